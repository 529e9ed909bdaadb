"""Fleet read side: the summary, status history and availability over a period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, false, func, true
from sqlmodel import Session, col, select

from controller.auth.scope import Scope
from controller.core.errors import Invalid
from controller.core.pagination import paginate
from controller.core.types import utc_now
from controller.devices.models import Box, Camera
from controller.devices.service import get_box, get_camera
from controller.fleet.models import Availability, FleetSummary, StatusTransition
from controller.schools.models import School

__all__ = ["availability", "history", "summary"]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(
    *, session: Session, scope: Scope, school_id: int | None = None, district: str | None = None
) -> FleetSummary:
    """Counts over indexed columns; a camera of an offline box counts as offline."""
    box_where = [scope.school_condition(Box.school_id)]
    cam_where = [scope.school_condition(Camera.school_id)]
    if school_id is not None:
        box_where.append(col(Box.school_id) == school_id)
        cam_where.append(col(Camera.school_id) == school_id)
    if district is not None:
        in_district = select(School.id).where(School.district == district)
        box_where.append(col(Box.school_id).in_(in_district))
        cam_where.append(col(Camera.school_id).in_(in_district))
    boxes_total, boxes_online = session.exec(
        select(func.count(), func.coalesce(func.sum(case((col(Box.online), 1), else_=0)), 0))
        .select_from(Box)
        .where(*box_where)
    ).one()
    live = and_((col(Camera.box_online) == true()), col(Camera.state) == "online")

    def cameras(*conditions: ColumnElement[bool]) -> int:
        stmt = select(func.count()).select_from(Camera)
        return int(
            session.exec(stmt.where((col(Camera.enabled) == true()), *conditions, *cam_where)).one()
        )

    total = cameras()
    online = cameras(live)
    hd = cameras(col(Camera.hd) == true())
    with_stream = hd + cameras(col(Camera.hd) == false())
    faulty = cameras(col(Camera.has_fault) == true())
    recording = cameras(live, (col(Camera.recording) == true()))
    reporting, completeness = _completeness(session, cam_where, now=utc_now())
    return FleetSummary(
        boxes_total=int(boxes_total),
        boxes_online=int(boxes_online),
        boxes_offline=int(boxes_total) - int(boxes_online),
        cameras_total=total,
        cameras_online=online,
        cameras_offline=total - online,
        online_rate=_rate(online, total),
        hd_cameras=hd,
        hd_rate=_rate(hd, with_stream),
        quality_fault_cameras=faulty,
        cameras_recording=recording,
        recording_rate=_rate(recording, total),
        completeness_cameras=reporting,
        recording_completeness=round(completeness, 4) if completeness is not None else None,
    )


def _completeness(
    session: Session, where: list[ColumnElement[bool]], *, now: datetime
) -> tuple[int, float | None]:
    """Mean of today's completeness over the cameras that report it.

    A camera of an online box counts what its box last said (the box is the truth). A camera
    of an offline box has recorded nothing since it was last heard: it counts the recorded
    seconds it had then over the day so far (0 if it was last heard before today).
    """
    reported = and_(col(Camera.enabled) == true(), col(Camera.completeness).is_not(None), *where)
    live_count, live_sum = session.exec(
        select(func.count(), func.coalesce(func.sum(Camera.completeness), 0.0)).where(
            reported, col(Camera.box_online) == true()
        )
    ).one()
    count, total = int(live_count), float(live_sum or 0.0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    so_far = max((now - day).total_seconds(), 1.0)
    stale = session.exec(
        select(Camera.completeness, Camera.status_at).where(
            reported, col(Camera.box_online) == false()
        )
    ).all()
    for value, heard in stale:
        count += 1
        if value is not None and heard is not None and heard >= day:
            total += value * min((heard - day).total_seconds() / so_far, 1.0)
    return count, (total / count if count else None)


def history(
    *,
    session: Session,
    scope: Scope,
    box_id: str,
    slot: int,
    start: datetime | None,
    end: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[StatusTransition], int]:
    """Status transitions of one camera (slot 0: the box), oldest first."""
    if slot == 0:
        get_box(session=session, scope=scope, box_id=box_id)
    else:
        get_camera(session=session, scope=scope, box_id=box_id, slot=slot)
    stmt = select(StatusTransition).where(
        StatusTransition.box_id == box_id, StatusTransition.slot == slot
    )
    if start is not None:
        stmt = stmt.where(col(StatusTransition.at) >= start)
    if end is not None:
        stmt = stmt.where(col(StatusTransition.at) < end)
    stmt = stmt.order_by(col(StatusTransition.at), col(StatusTransition.id))
    return paginate(session, stmt, offset=offset, limit=limit)


def _intervals(
    session: Session, box_id: str, slot: int, start: datetime, end: datetime, up: str
) -> list[tuple[datetime, datetime]]:
    """Stretches within [start, end) during which (box_id, slot) was in state `up`."""
    before = session.exec(
        select(StatusTransition)
        .where(
            StatusTransition.box_id == box_id,
            StatusTransition.slot == slot,
            col(StatusTransition.at) < start,
        )
        .order_by(col(StatusTransition.at).desc(), col(StatusTransition.id).desc())
        .limit(1)
    ).first()
    during = session.exec(
        select(StatusTransition)
        .where(
            StatusTransition.box_id == box_id,
            StatusTransition.slot == slot,
            col(StatusTransition.at) >= start,
            col(StatusTransition.at) < end,
        )
        .order_by(col(StatusTransition.at), col(StatusTransition.id))
    ).all()
    result: list[tuple[datetime, datetime]] = []
    opened: datetime | None = start if before is not None and before.to_state == up else None
    for transition in during:
        if transition.to_state == up and opened is None:
            opened = transition.at
        elif transition.to_state != up and opened is not None:
            result.append((opened, transition.at))
            opened = None
    if opened is not None:
        result.append((opened, end))
    return result


def _overlap(a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if hi > lo:
                total += (hi - lo).total_seconds()
    return total


def availability(
    *, session: Session, scope: Scope, box_id: str, slot: int, start: datetime, end: datetime
) -> Availability:
    """Share of [start, end) the camera was online while its box was online too."""
    if end <= start:
        raise Invalid("end must be after start")
    get_camera(session=session, scope=scope, box_id=box_id, slot=slot)
    camera_up = _intervals(session, box_id, slot, start, end, "online")
    box_up = _intervals(session, box_id, 0, start, end, "online")
    seconds = _overlap(camera_up, box_up)
    return Availability(
        box_id=box_id,
        slot=slot,
        start=start,
        end=end,
        online_seconds=seconds,
        availability=round(seconds / (end - start).total_seconds(), 6),
    )
