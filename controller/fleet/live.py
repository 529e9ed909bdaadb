"""Camera statuses and box telemetry: newest-wins upserts, many rows per statement.

Only a change of state raises or clears an alarm and writes a history row, so the steady
heartbeat of 160,000 cameras costs one upsert each and nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, tuple_, update
from sqlmodel import Session, col, select

from controller.alarms import service as alarms
from controller.alarms.models import Severity
from controller.core.db import dialect_insert
from controller.core.metrics import INGEST_REJECTS
from controller.core.types import utc_now
from controller.devices.models import Box, Camera
from controller.fleet.models import StatusTransition
from protocol import CameraStatus, Telemetry

__all__ = ["OFFLINE_STATES", "apply_statuses", "apply_telemetry", "touch_boxes"]

log = logging.getLogger(__name__)

OFFLINE_STATES = frozenset({"offline", "stalled", "error"})


def _ensure_boxes(session: Session, box_ids: set[str]) -> dict[str, Box]:
    """Box rows for these ids (created for boxes heard from before their birth)."""
    if not box_ids:
        return {}
    rows = session.exec(select(Box).where(col(Box.box_id).in_(box_ids))).all()
    found = {b.box_id: b for b in rows}
    missing = box_ids - set(found)
    if missing:
        insert = dialect_insert(session)
        now = utc_now()
        session.connection().execute(
            insert(Box).on_conflict_do_nothing(index_elements=["box_id"]),
            [{"box_id": b, "created_at": now} for b in sorted(missing)],
        )
        rows = session.exec(select(Box).where(col(Box.box_id).in_(missing))).all()
        found.update({b.box_id: b for b in rows})
    return found


def touch_boxes(session: Session, box_ids: set[str], at: datetime) -> None:
    """Remember that these boxes were heard from (feeds the silent-box sweep)."""
    if box_ids:
        session.exec(update(Box).where(col(Box.box_id).in_(box_ids)).values(last_seen=at))


def apply_statuses(session: Session, statuses: Sequence[CameraStatus]) -> int:
    """Upsert the newest status per camera; returns how many rows were written."""
    newest: dict[tuple[str, int], CameraStatus] = {}
    for status in statuses:
        key = (status.box_id, status.slot)
        held = newest.get(key)
        if held is None or status.sent_at >= held.sent_at:
            newest[key] = status
    if not newest:
        return 0
    boxes = _ensure_boxes(session, {box_id for box_id, _ in newest})
    existing: dict[tuple[str, int], _Held] = {
        (r[0], r[1]): _Held(*r[2:])
        for r in session.exec(
            select(  # type: ignore[call-overload]
                Camera.box_id,
                Camera.slot,
                Camera.state,
                Camera.status_at,
                Camera.hd,
                Camera.recording,
            ).where(tuple_(col(Camera.box_id), col(Camera.slot)).in_(list(newest)))
        ).all()
    }
    rows: list[dict[str, Any]] = []
    clears: list[tuple[str, int | None, str]] = []
    for key, status in newest.items():
        old = existing.get(key)
        if old is not None and old.status_at is not None and old.status_at > status.sent_at:
            INGEST_REJECTS.labels(reason="superseded").inc()
            continue
        box = boxes[status.box_id]
        rows.append(_row(status, box))
        _on_change(session, old, status, box, clears)
    if rows:
        session.connection().execute(_upsert(session), rows)
    if clears:
        alarms.clear_alarms(session, clears)
    touch_boxes(session, set(boxes), utc_now())
    return len(rows)


def _row(status: CameraStatus, box: Box) -> dict[str, Any]:
    stream = status.stream
    return {
        "box_id": status.box_id,
        "slot": status.slot,
        "school_id": box.school_id,
        "state": status.state.value,
        "box_online": box.online,
        "since": status.since,
        "status_at": status.sent_at,
        "last_packet_at": status.last_packet_at,
        "recording": status.recording,
        "hd": stream.hd if stream is not None else None,
        "has_fault": bool(status.faults),
        "faults": [f.value for f in status.faults],
        "stream": stream.model_dump(mode="json") if stream is not None else None,
        "error": status.error,
    }


@dataclass(frozen=True)
class _Held:
    """The live columns of a camera row as they were before this batch."""

    state: str
    status_at: datetime | None
    hd: bool | None
    recording: bool


_LIVE_COLUMNS = (
    "school_id",
    "state",
    "box_online",
    "since",
    "status_at",
    "last_packet_at",
    "recording",
    "hd",
    "has_fault",
    "faults",
    "stream",
    "error",
)


def _upsert(session: Session) -> Any:
    """One INSERT .. ON CONFLICT DO UPDATE, executed for many rows (compiled once)."""
    insert = dialect_insert(session)
    stmt = insert(Camera)
    set_: dict[str, Any] = {k: stmt.excluded[k] for k in _LIVE_COLUMNS}
    # While a camera sends no stream, keep the last known picture format (and its HD verdict).
    set_["hd"] = func.coalesce(stmt.excluded.hd, Camera.__table__.c.hd)  # type: ignore[attr-defined]
    set_["stream"] = func.coalesce(stmt.excluded.stream, Camera.__table__.c.stream)  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(
        index_elements=["box_id", "slot"],
        set_=set_,
        where=(col(Camera.status_at).is_(None))
        | (col(Camera.status_at) <= stmt.excluded.status_at),
    )


def _on_change(
    session: Session,
    old: _Held | None,
    status: CameraStatus,
    box: Box,
    clears: list[tuple[str, int | None, str]],
) -> None:
    """History row and alarms, only where something changed."""
    state = status.state.value
    old_state = old.state if old is not None else None
    common: dict[str, Any] = {"session": session, "box_id": status.box_id, "slot": status.slot}
    if state != old_state:
        session.add(
            StatusTransition(
                box_id=status.box_id,
                slot=status.slot,
                from_state=old_state,
                to_state=state,
                at=status.since,
            )
        )
        if state in OFFLINE_STATES:
            alarms.raise_alarm(
                **common,
                alarm_type="camera_offline",
                severity=Severity.MAJOR,
                message=f"camera {state}" + (f": {status.error}" if status.error else ""),
                school_id=box.school_id,
                at=utc_now(),
            )
        elif state == "online" and old_state is not None and old_state != "unknown":
            clears.append((status.box_id, status.slot, "camera_offline"))
            clears.append((status.box_id, status.slot, "camera_offline_long"))
    hd = status.stream.hd if status.stream is not None else None
    old_hd = old.hd if old is not None else None
    if hd is not None and hd != old_hd:
        if hd:
            if old_hd is not None:
                clears.append((status.box_id, status.slot, "hd_not_met"))
        else:
            assert status.stream is not None
            alarms.raise_alarm(
                **common,
                alarm_type="hd_not_met",
                severity=Severity.MINOR,
                message=f"stream {status.stream.width}x{status.stream.height} is below 1280x720",
                school_id=box.school_id,
            )
    if status.recording and state == "online" and old is not None and not old.recording:
        clears.append((status.box_id, status.slot, "recording_gap"))


def apply_telemetry(session: Session, items: Sequence[Telemetry]) -> None:
    """Keep the newest telemetry per box (a compact copy for the API)."""
    newest: dict[str, Telemetry] = {}
    for item in items:
        held = newest.get(item.box_id)
        if held is None or item.sent_at >= held.sent_at:
            newest[item.box_id] = item
    boxes = _ensure_boxes(session, set(newest))
    for box_id, item in newest.items():
        boxes[box_id].telemetry = item.model_dump(
            mode="json", exclude={"schema_version", "kind", "box_id", "boot_id", "seq"}
        )
        boxes[box_id].last_seen = utc_now()
        session.add(boxes[box_id])
    session.flush()
