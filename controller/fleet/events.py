"""Box events: stored exactly once by (box_id, boot_id, seq), then turned into alarms.

Historical (replayed) raise/clear events are stored but do not move alarms: the live status
that came since is the truth. For the same reason a camera offline/online event older than the
camera's held status moves nothing (the status already did). Recording gaps are history by
nature and always count; one that ended while the camera records again is raised and cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from controller.alarms.bulk import AlarmMove, apply_moves, clear, raise_
from controller.alarms.models import Severity
from controller.core.db import dialect_insert
from controller.core.keysets import join_camera_keys, one_of
from controller.core.metrics import INGEST_REJECTS
from controller.devices.models import Box, Camera
from controller.fleet.models import BoxEvent
from protocol import Event

__all__ = ["apply_events"]

log = logging.getLogger(__name__)


def apply_events(session: Session, events: Sequence[Event], *, gap_alarm_s: float) -> list[Event]:
    """Store new events, ignore ones already stored, act on the new; returns the new ones."""
    if not events:
        return []
    insert = dialect_insert(session)
    rows = [
        {
            "box_id": e.box_id,
            "boot_id": e.boot_id,
            "seq": e.seq,
            "type": e.body.type,
            "slot": getattr(e.body, "slot", None),
            "occurred_at": e.occurred_at,
            "historical": e.historical,
            "body": e.body.model_dump(mode="json"),
        }
        for e in events
    ]
    stmt = (
        insert(BoxEvent)
        .on_conflict_do_nothing(index_elements=["box_id", "boot_id", "seq"])
        .returning(BoxEvent.box_id, BoxEvent.boot_id, BoxEvent.seq)
    )
    # Executed for many rows (compiled once, cached); RETURNING names the rows stored now.
    stored = {(r[0], r[1], r[2]) for r in session.connection().execute(stmt, rows).all()}
    fresh: list[Event] = []
    taken: set[tuple[str, str, int]] = set()
    for event in events:
        key = (event.box_id, event.boot_id, event.seq)
        if key in stored and key not in taken:
            taken.add(key)
            fresh.append(event)
        else:
            INGEST_REJECTS.labels(reason="duplicate").inc()
    _move_alarms(session, fresh, gap_alarm_s)
    return fresh


@dataclass(frozen=True, slots=True)
class _Live:
    """The camera's live status as held after this batch's statuses were written."""

    state: str
    recording: bool
    status_at: datetime | None


def _cameras(session: Session, events: list[Event]) -> dict[tuple[str, int], _Live]:
    keys = sorted(
        {(e.box_id, slot) for e in events if (slot := getattr(e.body, "slot", None)) is not None}
    )
    if not keys:
        return {}
    stmt = select(  # type: ignore[call-overload]
        Camera.box_id, Camera.slot, Camera.state, Camera.recording, Camera.status_at
    )
    rows = session.connection().execute(
        join_camera_keys(session, stmt, col(Camera.box_id), col(Camera.slot), keys)
    )
    return {(r[0], r[1]): _Live(r[2], bool(r[3]), r[4]) for r in rows}


def _move_alarms(session: Session, events: list[Event], gap_alarm_s: float) -> None:
    if not events:
        return
    boxes = sorted({e.box_id for e in events})
    rows = session.connection().execute(
        select(Box.box_id, Box.school_id).where(one_of(session, Box.box_id, boxes))
    )
    schools: dict[str, int | None] = {r[0]: r[1] for r in rows}
    cameras = _cameras(session, events)
    moves: list[AlarmMove] = []
    for event in events:
        moves += _moves_for(event, schools.get(event.box_id), cameras, gap_alarm_s)
    apply_moves(session, moves)


def _moves_for(
    event: Event,
    school_id: int | None,
    cameras: dict[tuple[str, int], _Live],
    gap_alarm_s: float,
) -> list[AlarmMove]:
    body: Any = event.body
    slot = getattr(body, "slot", None)
    live = cameras.get((event.box_id, slot)) if slot is not None else None
    kind = body.type
    if kind == "recording_gap":
        length = (body.end - body.start).total_seconds()
        if length <= gap_alarm_s:
            return []
        message = f"{length:.0f} s not recorded from {body.start.isoformat()}: {body.reason}"
        moves = [raise_(event.box_id, slot, "recording_gap", Severity.MAJOR, message, school_id)]
        # A gap that is over while the camera records again is history: raised and cleared.
        # Recording is the test, not the state: a box records from a camera's first packet,
        # while it still says `connecting`, and reports the gap right then.
        if (
            live is not None
            and live.recording
            and live.status_at is not None
            and live.status_at >= body.end
        ):
            moves.append(clear(event.box_id, slot, "recording_gap"))
        return moves
    if event.historical:
        return []
    rule = _RULES.get(kind)
    if rule is None:
        return []
    if (
        kind in _CONNECTIVITY
        and live is not None
        and live.status_at is not None
        and live.status_at > event.occurred_at
    ):
        return []  # a newer status of this camera already moved its offline alarm
    alarm_type, severity, raised = rule(body)
    if raised:
        return [
            raise_(
                event.box_id,
                slot,
                alarm_type,
                severity,
                _describe(body),
                school_id,
                event.occurred_at,
            )
        ]
    return [clear(event.box_id, slot, alarm_type, event.occurred_at)]


_CONNECTIVITY = frozenset({"camera_offline", "camera_stalled", "camera_online"})


def _describe(body: Any) -> str:
    fields = body.model_dump(mode="json", exclude={"type", "slot", "state"})
    detail = ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return f"{body.type}" + (f": {detail}" if detail else "")


_RULES: dict[str, Any] = {
    "camera_offline": lambda b: ("camera_offline", Severity.MAJOR, True),
    "camera_stalled": lambda b: ("camera_offline", Severity.MAJOR, True),
    "camera_online": lambda b: ("camera_offline", Severity.MAJOR, False),
    "camera_fault": lambda b: (f"camera_fault_{b.problem}", Severity.MAJOR, b.state == "raised"),
    "quality_fault": lambda b: (f"quality_{b.fault.value}", Severity.MINOR, b.state == "raised"),
    "disk_pressure": lambda b: ("disk_pressure", Severity.MAJOR, b.state == "raised"),
    "storage_fault": lambda b: (f"storage_{b.problem}", Severity.CRITICAL, b.state == "raised"),
    "config_rejected": lambda b: ("config_rejected", Severity.MINOR, True),
    "config_applied": lambda b: ("config_rejected", Severity.MINOR, False),
}
