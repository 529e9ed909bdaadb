"""Camera statuses and box telemetry: newest-wins, a few statements per batch.

A camera's statuses in one batch are walked in the order they were sent, so every change of
state still writes its history row and moves its alarms. A status that says nothing new
(a heartbeat: only `sent_at` and `last_packet_at` moved) updates just those two columns; any
other change rewrites the camera's live columns with one multi-row upsert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, text, update
from sqlmodel import Session, col, select

from controller.alarms.bulk import AlarmMove, apply_moves, clear, raise_
from controller.alarms.models import Severity
from controller.core.db import dialect_insert
from controller.core.keysets import join_camera_keys, one_of
from controller.core.metrics import INGEST_REJECTS
from controller.core.types import utc_now
from controller.devices.models import Box, Camera
from controller.fleet.known import Known, KnownCameras, content_key, stream_key
from controller.fleet.models import StatusTransition
from protocol import CameraStatus, Telemetry

__all__ = ["OFFLINE_STATES", "apply_statuses", "apply_telemetry", "ensure_boxes", "touch_boxes"]

log = logging.getLogger(__name__)

OFFLINE_STATES = frozenset({"offline", "stalled", "error"})

_TELEMETRY_EXCLUDE = {"schema_version", "kind", "box_id", "boot_id", "seq"}


@dataclass(frozen=True, slots=True)
class BoxFacts:
    """What a status needs to know of its box."""

    school_id: int | None
    online: bool


def ensure_boxes(session: Session, box_ids: set[str]) -> dict[str, BoxFacts]:
    """School and online flag of these boxes, creating rows for boxes heard before birth."""
    if not box_ids:
        return {}
    wanted = sorted(box_ids)
    insert = dialect_insert(session)
    now = utc_now()
    found = _box_facts(session, wanted)
    missing = [b for b in wanted if b not in found]
    if missing:
        session.connection().execute(
            insert(Box).on_conflict_do_nothing(index_elements=["box_id"]),
            [{"box_id": b, "created_at": now} for b in missing],
        )
        found.update(_box_facts(session, missing))
    return found


def _box_facts(session: Session, box_ids: list[str]) -> dict[str, BoxFacts]:
    rows = session.connection().execute(
        select(Box.box_id, Box.school_id, Box.online).where(one_of(session, Box.box_id, box_ids))
    )
    return {r[0]: BoxFacts(r[1], bool(r[2])) for r in rows}


def touch_boxes(session: Session, box_ids: set[str], at: datetime) -> None:
    """Remember that these boxes were heard from (feeds the silent-box sweep)."""
    if box_ids:
        table = Box.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table).where(one_of(session, table.c.box_id, box_ids)).values(last_seen=at)
        )


@dataclass(slots=True)
class _Held:
    """A camera's live columns as the database holds them (updated as the batch is walked)."""

    school_id: int | None
    state: str
    status_at: datetime | None
    since: datetime | None
    recording: bool
    hd: bool | None
    has_fault: bool
    faults: list[str] | None
    stream: dict[str, object] | None
    error: str | None
    completeness: float | None
    changed: bool = False


_HELD_COLUMNS = (
    Camera.school_id,
    Camera.state,
    Camera.status_at,
    Camera.since,
    Camera.recording,
    Camera.hd,
    Camera.has_fault,
    Camera.faults,
    Camera.stream,
    Camera.error,
    Camera.completeness,
)


def _held(session: Session, keys: set[tuple[str, int]]) -> dict[tuple[str, int], _Held]:
    """The held rows of exactly these cameras, with one cheap-to-plan query."""
    columns = (Camera.box_id, Camera.slot, *_HELD_COLUMNS)
    stmt = join_camera_keys(
        session,
        select(*columns),  # type: ignore[call-overload]
        col(Camera.box_id),
        col(Camera.slot),
        keys,
    )
    rows = session.connection().execute(stmt)  # Core rows: the ORM's loading costs as much
    return {(r[0], r[1]): _Held(*r[2:]) for r in rows}


def apply_statuses(
    session: Session, statuses: Sequence[CameraStatus], known: KnownCameras | None = None
) -> int:
    """Apply every camera's statuses in sent order; returns how many camera rows changed.

    With `known` (the ingest writer's memory of its own writes), heartbeats of cameras it
    wrote before go out without reading their rows first.
    """
    by_camera: dict[tuple[str, int], list[CameraStatus]] = {}
    for status in statuses:
        by_camera.setdefault((status.box_id, status.slot), []).append(status)
    if not by_camera:
        return 0
    for run in by_camera.values():
        run.sort(key=lambda s: s.sent_at)
    beaten = _beat_known(session, by_camera, known) if known is not None else set()
    cameras = {k: by_camera.pop(k) for k in beaten}
    if not by_camera:
        touch_boxes(session, {box_id for box_id, _ in cameras}, utc_now())
        return len(beaten)
    held = _held(session, set(by_camera))
    new_boxes = {box_id for box_id, slot in by_camera if (box_id, slot) not in held}
    facts = ensure_boxes(session, new_boxes)
    full: dict[tuple[str, int], dict[str, Any]] = {}
    beats: dict[tuple[str, int], dict[str, Any]] = {}
    moves: list[AlarmMove] = []
    now = utc_now()
    for key, run in by_camera.items():
        old = held.get(key)
        box = facts.get(key[0])
        for status in run:
            if old is not None and old.status_at is not None and old.status_at > status.sent_at:
                INGEST_REJECTS.labels(reason="superseded").inc()
                continue
            row = _row(status)
            if old is not None and _same(old, row):
                beats[key] = _beat_row(status)
                old.status_at = status.sent_at
                if row["stream"] is not None:
                    old.stream = row["stream"]
                continue
            school_id = old.school_id if old is not None else (box.school_id if box else None)
            _on_change(session, old, status, school_id, moves, now)
            if old is None:
                online = box.online if box is not None else False
                full[key] = {**row, "school_id": school_id, "box_online": online}
                old = _Held(
                    school_id, "unknown", None, None, False, None, False, None, None, None, None
                )
                held[key] = old
            else:
                full[key] = {**row, "school_id": old.school_id, "box_online": None}
            beats.pop(key, None)
            _remember(old, row)
        if known is not None and old is not None and old.status_at is not None:
            known.remember(key, _known(old))
    if full:
        _write_full(session, list(full.values()))
    if beats:
        _beat(session, list(beats.values()), exact=False)
    apply_moves(session, moves)
    touch_boxes(session, {box_id for box_id, _ in by_camera} | {b for b, _ in cameras}, now)
    return len(full) + len(beats) + len(beaten)


def _known(held: _Held) -> Known:
    assert held.status_at is not None
    content = content_key(
        held.state, held.since, held.recording, held.faults, held.error, held.completeness
    )
    return Known(content, stream_key(held.stream), held.status_at)


def _repeats(known: Known, status: CameraStatus) -> bool:
    """True when `status` says what the remembered row holds (a heartbeat)."""
    if status.sent_at < known.at:
        return False  # older than the row: the full path counts it as superseded
    faults = [f.value for f in status.faults]
    content = content_key(
        status.state.value,
        status.since,
        status.recording,
        faults,
        status.error,
        status.completeness,
    )
    if content != known.content:
        return False
    if status.stream is None:
        return True
    return known.stream is not None and stream_key(status.stream) == known.stream


def _beat_row(status: CameraStatus) -> dict[str, Any]:
    """A heartbeat's columns: the clock, and the stream's new figures when it sent them."""
    stream = status.stream
    return {
        "b_box": status.box_id,
        "b_slot": status.slot,
        "b_at": status.sent_at,
        "b_packet": status.last_packet_at,
        "b_stream": stream.model_dump_json() if stream is not None else None,
    }


def _beat_known(
    session: Session, by_camera: dict[tuple[str, int], list[CameraStatus]], known: KnownCameras
) -> set[tuple[str, int]]:
    """Write the heartbeats of remembered cameras without reading their rows; the keys done.

    All or nothing: if any remembered row moved on, every one of these takes the full path
    (the update reports only the total of rows it changed).
    """
    rows: list[dict[str, Any]] = []
    for key, run in by_camera.items():
        entry = known.get(key)
        if entry is None or not all(_repeats(entry, s) for s in run):
            continue
        last = run[-1]
        rows.append({**_beat_row(last), "b_prev": entry.at})
    if not rows:
        return set()
    keys = {(r["b_box"], r["b_slot"]) for r in rows}
    if _beat(session, rows, exact=True) != len(rows):
        log.debug("remembered rows moved on; reading them", extra={"cameras": len(rows)})
        known.forget(keys)
        return set()
    for r in rows:
        entry = known.get((r["b_box"], r["b_slot"]))
        if entry is not None:
            entry.at = r["b_at"]
    return keys


def _row(status: CameraStatus) -> dict[str, Any]:
    stream = status.stream
    return {
        "box_id": status.box_id,
        "slot": status.slot,
        "state": status.state.value,
        "since": status.since,
        "status_at": status.sent_at,
        "last_packet_at": status.last_packet_at,
        "recording": status.recording,
        "hd": stream.hd if stream is not None else None,
        "has_fault": bool(status.faults),
        "faults": [f.value for f in status.faults],
        "stream": stream.model_dump(mode="json") if stream is not None else None,
        "error": status.error,
        "completeness": status.completeness,
    }


def _same(old: _Held, row: dict[str, Any]) -> bool:
    """True when the status repeats what is held (a heartbeat): the stream's measured figures
    may move (the heartbeat writes them), and a status without a stream keeps the held one."""
    return (
        old.state == row["state"]
        and old.since == row["since"]
        and old.recording == row["recording"]
        and old.has_fault == row["has_fault"]
        and (old.faults or []) == row["faults"]
        and old.error == row["error"]
        and old.completeness == row["completeness"]
        and (row["stream"] is None or stream_key(old.stream) == stream_key(row["stream"]))
        and (row["hd"] is None or old.hd == row["hd"])
    )


def _remember(old: _Held, row: dict[str, Any]) -> None:
    old.state, old.status_at, old.since = row["state"], row["status_at"], row["since"]
    old.recording, old.has_fault, old.faults = row["recording"], row["has_fault"], row["faults"]
    old.error, old.completeness = row["error"], row["completeness"]
    if row["stream"] is not None:
        old.stream, old.hd = row["stream"], row["hd"]


_LIVE_COLUMNS = (
    "state",
    "since",
    "status_at",
    "last_packet_at",
    "recording",
    "hd",
    "has_fault",
    "faults",
    "stream",
    "error",
    "completeness",
)


def _write_full(session: Session, rows: list[dict[str, Any]]) -> None:
    """New cameras are inserted with their box's school and online flag; known ones keep
    theirs (presence and school assignment maintain them for the whole box)."""
    fresh = [r for r in rows if r["box_online"] is not None]
    known = [
        {k: v for k, v in r.items() if k not in ("school_id", "box_online")}
        for r in rows
        if r["box_online"] is None
    ]
    for group in (fresh, known):
        if group:
            session.connection().execute(_upsert(session), group)


def _upsert(session: Session) -> Any:
    """One INSERT .. ON CONFLICT, executed for many rows; newest status wins and only the
    live columns are updated."""
    insert = dialect_insert(session)
    stmt = insert(Camera)
    table = Camera.__table__  # type: ignore[attr-defined]
    set_: dict[str, Any] = {k: stmt.excluded[k] for k in _LIVE_COLUMNS}
    # While a camera sends no stream, keep the last known picture format (and its HD verdict).
    set_["hd"] = func.coalesce(stmt.excluded.hd, table.c.hd)
    set_["stream"] = func.coalesce(stmt.excluded.stream, table.c.stream)
    return stmt.on_conflict_do_update(
        index_elements=["box_id", "slot"],
        set_=set_,
        where=or_(
            col(Camera.status_at).is_(None), col(Camera.status_at) <= stmt.excluded.status_at
        ),
    )


_POSTGRES_BEATS = """
UPDATE camera SET status_at = v.at, last_packet_at = v.packet,
    stream = COALESCE(CAST(v.stream AS json), camera.stream)
FROM unnest(
    CAST(:boxes AS varchar[]), CAST(:slots AS integer[]), CAST(:ats AS timestamp[]),
    CAST(:packets AS timestamp[]), CAST(:prevs AS timestamp[]), CAST(:streams AS text[])
) AS v(box, slot, at, packet, prev, stream)
WHERE camera.box_id = v.box AND camera.slot = v.slot AND {condition}
"""
_EXACT = "camera.status_at = v.prev"
_NEWER = "(camera.status_at IS NULL OR camera.status_at <= v.at)"


def _beat(session: Session, rows: list[dict[str, Any]], *, exact: bool) -> int:
    """Move these cameras' clocks; how many rows changed. `exact`: only rows whose status_at
    is still `b_prev` (remembered heartbeats); otherwise only rows not newer than `b_at`.

    PostgreSQL gets one UPDATE joined to the rows as arrays: run as a statement per row, the
    server's per-statement work was most of ingest's time. SQLite runs in-process, where
    executing one statement many times is what is cheap; there the rows go to the driver as
    tuples, timestamps stored as `UtcDateTime` stores them, since SQLAlchemy's own handling of
    each row's parameters cost more than the update.
    """
    connection = session.connection()
    stored = _timestamp_binder(connection.dialect)
    if connection.dialect.name != "postgresql":
        sql = _SQLITE_EXACT_BEATS if exact else _SQLITE_NEWER_BEATS
        params = [
            (
                stored(r["b_at"]),
                stored(r["b_packet"]),
                r["b_stream"],
                r["b_box"],
                r["b_slot"],
                stored(r["b_prev"] if exact else r["b_at"]),
            )
            for r in rows
        ]
        return int(connection.exec_driver_sql(sql, params).rowcount)
    sql = _POSTGRES_BEATS.format(condition=_EXACT if exact else _NEWER)
    result = connection.execute(
        text(sql),
        {
            "boxes": [r["b_box"] for r in rows],
            "slots": [r["b_slot"] for r in rows],
            "ats": [stored(r["b_at"]) for r in rows],
            "packets": [stored(r["b_packet"]) for r in rows],
            "prevs": [stored(r.get("b_prev")) for r in rows],
            "streams": [r["b_stream"] for r in rows],
        },
    )
    return int(result.rowcount)


_SQLITE_BEAT = (
    "UPDATE camera SET status_at = ?, last_packet_at = ?, stream = COALESCE(?, stream) "
    "WHERE box_id = ? AND slot = ? AND "
)
_SQLITE_EXACT_BEATS = _SQLITE_BEAT + "status_at = ?"
_SQLITE_NEWER_BEATS = _SQLITE_BEAT + "(status_at IS NULL OR status_at <= ?)"


def _timestamp_binder(dialect: Any) -> Any:
    """The function that turns an aware datetime into what `camera.status_at` stores on this
    database (`UtcDateTime`: naive UTC; on SQLite, its text form)."""
    table = Camera.__table__  # type: ignore[attr-defined]
    processor = table.c.status_at.type.bind_processor(dialect)
    return processor if processor is not None else (lambda value: value)


def _on_change(
    session: Session,
    old: _Held | None,
    status: CameraStatus,
    school_id: int | None,
    moves: list[AlarmMove],
    now: datetime,
) -> None:
    """History row and alarm moves, only where something changed."""
    box_id, slot = status.box_id, status.slot
    state = status.state.value
    old_state = old.state if old is not None else None
    if state != old_state:
        session.add(
            StatusTransition(
                box_id=box_id, slot=slot, from_state=old_state, to_state=state, at=status.since
            )
        )
        if state in OFFLINE_STATES:
            detail = f": {status.error}" if status.error else ""
            moves.append(
                raise_(
                    box_id,
                    slot,
                    "camera_offline",
                    Severity.MAJOR,
                    f"camera {state}{detail}",
                    school_id,
                    now,
                )
            )
        elif state == "online" and old_state is not None and old_state != "unknown":
            moves.append(clear(box_id, slot, "camera_offline", now))
            moves.append(clear(box_id, slot, "camera_offline_long", now))
    hd = status.stream.hd if status.stream is not None else None
    old_hd = old.hd if old is not None else None
    if hd is not None and hd != old_hd:
        if hd:
            if old_hd is not None:
                moves.append(clear(box_id, slot, "hd_not_met", now))
        else:
            assert status.stream is not None
            size = f"{status.stream.width}x{status.stream.height}"
            moves.append(
                raise_(
                    box_id,
                    slot,
                    "hd_not_met",
                    Severity.MINOR,
                    f"stream {size} is below 1280x720",
                    school_id,
                    now,
                )
            )
    if status.recording and old is not None and not old.recording:
        moves.append(clear(box_id, slot, "recording_gap", now))  # whatever the state says


def apply_telemetry(session: Session, items: Sequence[Telemetry]) -> None:
    """Keep the newest telemetry per box (a compact copy for the API): one multi-row upsert."""
    newest: dict[str, Telemetry] = {}
    for item in items:
        held = newest.get(item.box_id)
        if held is None or item.sent_at >= held.sent_at:
            newest[item.box_id] = item
    if not newest:
        return
    now = utc_now()
    insert = dialect_insert(session)
    stmt = insert(Box)
    stmt = stmt.on_conflict_do_update(
        index_elements=["box_id"],
        set_={"telemetry": stmt.excluded.telemetry, "last_seen": stmt.excluded.last_seen},
    )
    session.connection().execute(
        stmt,
        [
            {
                "box_id": box_id,
                "created_at": now,
                "last_seen": now,
                "telemetry": item.model_dump(mode="json", exclude=_TELEMETRY_EXCLUDE),
            }
            for box_id, item in sorted(newest.items())
        ],
    )
