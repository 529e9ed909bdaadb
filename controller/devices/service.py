"""Boxes and cameras as the API sees them; every query is narrowed by scope."""

from __future__ import annotations

from sqlalchemy import text, update
from sqlmodel import Session, col, select

from controller.alarms.models import Alarm
from controller.auth.scope import Scope
from controller.core.errors import Invalid, NotFound
from controller.core.pagination import paginate
from controller.devices.models import CAMERA_DOWN, Box, Camera
from controller.schools.models import School

__all__ = ["assign_box", "get_box", "get_camera", "list_boxes", "list_cameras"]


def get_box(*, session: Session, scope: Scope, box_id: str) -> Box:
    stmt = select(Box).where(Box.box_id == box_id, scope.school_condition(Box.school_id))
    box = session.exec(stmt).first()
    if box is None:
        raise NotFound(f"no box {box_id!r}")
    return box


def list_boxes(
    *,
    session: Session,
    scope: Scope,
    offset: int,
    limit: int,
    school_id: int | None = None,
    online: bool | None = None,
) -> tuple[list[Box], int]:
    stmt = select(Box).where(scope.school_condition(Box.school_id))
    if school_id is not None:
        stmt = stmt.where(Box.school_id == school_id)
    if online is not None:
        stmt = stmt.where(col(Box.online).is_(online))
    return paginate(session, stmt.order_by(col(Box.box_id)), offset=offset, limit=limit)


def assign_box(*, session: Session, box_id: str, school_id: int | None) -> Box:
    """Bind a box (and its cameras and open alarms) to a school, creating the box if new."""
    if school_id is not None and session.get(School, school_id) is None:
        raise Invalid(f"no school {school_id}")
    box = session.get(Box, box_id) or Box(box_id=box_id)
    box.school_id = school_id
    session.add(box)
    session.exec(update(Camera).where(col(Camera.box_id) == box_id).values(school_id=school_id))
    session.exec(update(Alarm).where(col(Alarm.box_id) == box_id).values(school_id=school_id))
    session.flush()
    return box


def get_camera(*, session: Session, scope: Scope, box_id: str, slot: int) -> Camera:
    stmt = select(Camera).where(
        Camera.box_id == box_id, Camera.slot == slot, scope.school_condition(Camera.school_id)
    )
    camera = session.exec(stmt).first()
    if camera is None:
        raise NotFound(f"no camera {box_id!r} slot {slot}")
    return camera


def list_cameras(
    *,
    session: Session,
    scope: Scope,
    offset: int,
    limit: int,
    school_id: int | None = None,
    box_id: str | None = None,
    state: str | None = None,
    online: bool | None = None,
    hd: bool | None = None,
    has_fault: bool | None = None,
    vendor: str | None = None,
) -> tuple[list[Camera], int]:
    """Cameras by filter; `online` means media arriving and the box online."""
    stmt = select(Camera).where(scope.school_condition(Camera.school_id))
    if school_id is not None:
        stmt = stmt.where(Camera.school_id == school_id)
    if box_id is not None:
        stmt = stmt.where(Camera.box_id == box_id)
    if state is not None:
        stmt = stmt.where(Camera.state == state)
    if online is True:
        stmt = stmt.where(col(Camera.box_online).is_(True), Camera.state == "online")
    elif online is False:
        stmt = stmt.where(text(CAMERA_DOWN))  # served by the partial index ix_camera_down
    if hd is not None:
        stmt = stmt.where(col(Camera.hd).is_(hd))
    if has_fault is not None:
        stmt = stmt.where(col(Camera.has_fault).is_(has_fault))
    if vendor is not None:
        stmt = stmt.where(Camera.vendor == vendor)
    stmt = stmt.order_by(col(Camera.box_id), col(Camera.slot))
    return paginate(session, stmt, offset=offset, limit=limit)
