"""Raise and clear many alarms in a few statements, in the order they happened.

Ingest produces alarm moves by the hundred per batch (first contact of a whole district, a
burst of events). Each move is an `AlarmMove`; `apply_moves` keeps their order per
(source, type) and runs them in rounds: round n holds the n-th move of every key, as one
multi-row `INSERT .. ON CONFLICT (source, type) WHERE active DO UPDATE` for the raises and one
UPDATE per type for the clears. A raise-then-clear inside one batch therefore still leaves a
cleared alarm in the history, exactly as one move at a time would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlmodel import Session

from controller.alarms.models import Alarm, Severity
from controller.alarms.service import box_source, camera_source
from controller.core.db import dialect_insert
from controller.core.keysets import one_of
from controller.core.types import utc_now

__all__ = ["AlarmMove", "apply_moves", "clear", "raise_"]


@dataclass(frozen=True, slots=True)
class AlarmMove:
    """Raise (`raised=True`) or clear the alarm `alarm_type` of a box (slot None) or camera."""

    box_id: str
    slot: int | None
    alarm_type: str
    raised: bool
    severity: Severity = Severity.MAJOR
    message: str = ""
    school_id: int | None = None
    at: datetime | None = None

    @property
    def source(self) -> str:
        return (
            camera_source(self.box_id, self.slot)
            if self.slot is not None
            else (box_source(self.box_id))
        )


def raise_(
    box_id: str,
    slot: int | None,
    alarm_type: str,
    severity: Severity,
    message: str,
    school_id: int | None,
    at: datetime | None = None,
) -> AlarmMove:
    return AlarmMove(box_id, slot, alarm_type, True, severity, message[:500], school_id, at)


def clear(box_id: str, slot: int | None, alarm_type: str, at: datetime | None = None) -> AlarmMove:
    return AlarmMove(box_id, slot, alarm_type, False, at=at)


def apply_moves(session: Session, moves: Iterable[AlarmMove]) -> None:
    """Apply the moves; the order between moves of the same (source, type) is kept."""
    queues: dict[tuple[str, str], list[AlarmMove]] = {}
    for move in moves:
        queues.setdefault((move.source, move.alarm_type), []).append(move)
    rounds = max((len(q) for q in queues.values()), default=0)
    for n in range(rounds):
        step = [q[n] for q in queues.values() if len(q) > n]
        raises = [m for m in step if m.raised]
        if raises:
            _raise_many(session, raises)
        clears = [m for m in step if not m.raised]
        if clears:
            _clear_many(session, clears)


def _clear_many(session: Session, moves: list[AlarmMove]) -> None:
    """Clear those of the keys that have an active alarm (most clears find none: a birth
    clears every camera's firmware alarms); one UPDATE executed for the rest."""
    now = utc_now()
    table = Alarm.__table__  # type: ignore[attr-defined]
    sources = sorted({m.source for m in moves})
    active: set[tuple[str, str]] = set()
    rows = session.connection().execute(
        select(table.c.source, table.c.type).where(
            text("alarm.active"), one_of(session, table.c.source, sources)
        )
    )
    active.update((r[0], r[1]) for r in rows)
    moves = [m for m in moves if (m.source, m.alarm_type) in active]
    if not moves:
        return
    stmt = (
        update(table)
        .where(
            text("alarm.active"),  # as the partial unique index says it, so SQLite uses it
            table.c.source == bindparam("k_source"),
            table.c.type == bindparam("k_type"),
        )
        .values(active=False, cleared_at=bindparam("k_at"), updated_at=bindparam("k_at"))
    )
    session.connection().execute(
        stmt, [{"k_source": m.source, "k_type": m.alarm_type, "k_at": m.at or now} for m in moves]
    )


def _raise_many(session: Session, moves: list[AlarmMove]) -> None:
    """One multi-row upsert: a new active alarm, or the active one refreshed (never two)."""
    now = utc_now()
    rows: list[dict[str, Any]] = [
        {
            "source": m.source,
            "type": m.alarm_type,
            "severity": m.severity,
            "box_id": m.box_id,
            "slot": m.slot,
            "school_id": m.school_id,
            "message": m.message,
            "active": True,
            "acknowledged": False,
            "raised_at": m.at or now,
            "updated_at": m.at or now,
        }
        for m in moves
    ]
    insert = dialect_insert(session)
    stmt = insert(Alarm)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "type"],
        index_where=text("active"),
        set_={
            "severity": stmt.excluded.severity,
            "message": stmt.excluded.message,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.connection().execute(stmt, rows)
