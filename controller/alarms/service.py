"""Raise, clear, acknowledge and list alarms; ingest, sweeps and the API all come here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from controller.alarms.models import Alarm, Severity
from controller.auth.scope import Scope
from controller.core.errors import NotFound
from controller.core.pagination import paginate
from controller.core.types import utc_now

__all__ = [
    "acknowledge",
    "box_source",
    "camera_source",
    "clear_alarm",
    "clear_alarms",
    "get_alarm",
    "list_alarms",
    "raise_alarm",
]


def box_source(box_id: str) -> str:
    return f"box:{box_id}"


def camera_source(box_id: str, slot: int) -> str:
    return f"camera:{box_id}/{slot}"


def _active(session: Session, source: str, alarm_type: str) -> Alarm | None:
    stmt = select(Alarm).where(
        Alarm.source == source, Alarm.type == alarm_type, text("alarm.active")
    )
    return session.exec(stmt).first()


def raise_alarm(
    *,
    session: Session,
    box_id: str,
    slot: int | None,
    alarm_type: str,
    severity: Severity,
    message: str,
    school_id: int | None,
    at: datetime | None = None,
) -> Alarm:
    """The active alarm for (source, type), created if there is none (never a second one)."""
    source = camera_source(box_id, slot) if slot is not None else box_source(box_id)
    now = at or utc_now()
    alarm = _active(session, source, alarm_type)
    if alarm is not None:
        alarm.updated_at = now
        alarm.severity = severity
        alarm.message = message[:500]
        session.add(alarm)
        return alarm
    alarm = Alarm(
        source=source,
        type=alarm_type,
        severity=severity,
        box_id=box_id,
        slot=slot,
        school_id=school_id,
        message=message[:500],
        raised_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(alarm)
    except IntegrityError:  # another replica raised it a moment ago
        existing = _active(session, source, alarm_type)
        assert existing is not None
        return existing
    return alarm


def clear_alarm(
    *,
    session: Session,
    box_id: str,
    slot: int | None,
    alarm_type: str,
    at: datetime | None = None,
) -> Alarm | None:
    """Clear the active alarm for (source, type), if any; it stays in the history."""
    source = camera_source(box_id, slot) if slot is not None else box_source(box_id)
    alarm = _active(session, source, alarm_type)
    if alarm is None:
        return None
    now = at or utc_now()
    alarm.active = False
    alarm.cleared_at = now
    alarm.updated_at = now
    session.add(alarm)
    return alarm


def clear_alarms(
    session: Session, keys: Iterable[tuple[str, int | None, str]], *, at: datetime | None = None
) -> int:
    """Clear many (box_id, slot, type) at once: one UPDATE per type, for the ingest hot path."""
    by_type: dict[str, set[str]] = defaultdict(set)
    for box_id, slot, alarm_type in keys:
        by_type[alarm_type].add(
            camera_source(box_id, slot) if slot is not None else box_source(box_id)
        )
    now = at or utc_now()
    cleared = 0
    for alarm_type, sources in by_type.items():
        result = session.exec(
            update(Alarm)
            .where(
                text("alarm.active"),  # the partial unique index's own predicate
                col(Alarm.type) == alarm_type,
                col(Alarm.source).in_(sorted(sources)),
            )
            .values(active=False, cleared_at=now, updated_at=now)
        )
        cleared += result.rowcount or 0
    return cleared


def get_alarm(*, session: Session, scope: Scope, alarm_id: int) -> Alarm:
    stmt = select(Alarm).where(Alarm.id == alarm_id, scope.school_condition(Alarm.school_id))
    alarm = session.exec(stmt).first()
    if alarm is None:
        raise NotFound(f"no alarm {alarm_id}")
    return alarm


def acknowledge(
    *, session: Session, scope: Scope, alarm_id: int, username: str, note: str
) -> Alarm:
    alarm = get_alarm(session=session, scope=scope, alarm_id=alarm_id)
    now = utc_now()
    alarm.acknowledged = True
    alarm.acked_at = now
    alarm.acked_by = username
    alarm.ack_note = note
    alarm.updated_at = now
    session.add(alarm)
    session.flush()
    return alarm


def list_alarms(
    *,
    session: Session,
    scope: Scope,
    offset: int,
    limit: int,
    active: bool | None = None,
    acknowledged: bool | None = None,
    severity: Severity | None = None,
    alarm_type: str | None = None,
    box_id: str | None = None,
    school_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Alarm], int]:
    """Alarms newest first; with active=False this is the history."""
    stmt = select(Alarm).where(scope.school_condition(Alarm.school_id))
    if active is not None:
        stmt = stmt.where(col(Alarm.active).is_(active))
    if acknowledged is not None:
        stmt = stmt.where(col(Alarm.acknowledged).is_(acknowledged))
    if severity is not None:
        stmt = stmt.where(Alarm.severity == severity)
    if alarm_type is not None:
        stmt = stmt.where(Alarm.type == alarm_type)
    if box_id is not None:
        stmt = stmt.where(Alarm.box_id == box_id)
    if school_id is not None:
        stmt = stmt.where(Alarm.school_id == school_id)
    if since is not None:
        stmt = stmt.where(col(Alarm.raised_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Alarm.raised_at) < until)
    stmt = stmt.order_by(col(Alarm.raised_at).desc(), col(Alarm.id).desc())
    return paginate(session, stmt, offset=offset, limit=limit)
