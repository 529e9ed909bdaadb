"""Schools and their slots; every read is narrowed by the caller's scope."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from controller.auth.scope import Scope
from controller.core.errors import Conflict, NotFound
from controller.core.pagination import paginate
from controller.schools.models import (
    DEFAULT_SLOT_AREAS,
    School,
    SchoolCreate,
    SchoolType,
    SchoolUpdate,
    Slot,
)

__all__ = [
    "create_school",
    "get_school",
    "get_school_by_code",
    "list_schools",
    "list_slots",
    "update_school",
    "update_slot",
]


def create_school(*, session: Session, data: SchoolCreate) -> School:
    """A school with its 16 default slots (areas can be renamed afterwards)."""
    if session.exec(select(School).where(School.code == data.code)).first():
        raise Conflict(f"school {data.code!r} exists")
    school = School.model_validate(data)
    session.add(school)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"school {data.code!r} exists") from exc
    assert school.id is not None
    for number, area in enumerate(DEFAULT_SLOT_AREAS, start=1):
        session.add(Slot(school_id=school.id, number=number, area=area))
    session.flush()
    return school


def get_school(*, session: Session, scope: Scope, school_id: int) -> School:
    school = session.get(School, school_id)
    if school is None or not scope.allows_school(school):
        raise NotFound(f"no school {school_id}")
    return school


def get_school_by_code(*, session: Session, code: str) -> School | None:
    return session.exec(select(School).where(School.code == code)).first()


def list_schools(
    *,
    session: Session,
    scope: Scope,
    offset: int,
    limit: int,
    district: str | None = None,
    school_type: SchoolType | None = None,
    vendor: str | None = None,
    q: str | None = None,
) -> tuple[list[School], int]:
    stmt = select(School).where(scope.school_condition(School.id))
    if district is not None:
        stmt = stmt.where(School.district == district)
    if school_type is not None:
        stmt = stmt.where(School.type == school_type)
    if vendor is not None:
        stmt = stmt.where(School.vendor == vendor)
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(col(School.name).ilike(pattern) | col(School.code).ilike(pattern))
    return paginate(session, stmt.order_by(col(School.id)), offset=offset, limit=limit)


def update_school(*, session: Session, scope: Scope, school_id: int, data: SchoolUpdate) -> School:
    school = get_school(session=session, scope=scope, school_id=school_id)
    school.sqlmodel_update(data.model_dump(exclude_unset=True))
    session.add(school)
    session.flush()
    return school


def list_slots(*, session: Session, scope: Scope, school_id: int) -> list[Slot]:
    get_school(session=session, scope=scope, school_id=school_id)
    stmt = select(Slot).where(Slot.school_id == school_id).order_by(col(Slot.number))
    return list(session.exec(stmt).all())


def update_slot(*, session: Session, scope: Scope, school_id: int, number: int, area: str) -> Slot:
    get_school(session=session, scope=scope, school_id=school_id)
    slot = session.exec(
        select(Slot).where(Slot.school_id == school_id, Slot.number == number)
    ).first()
    if slot is None:
        raise NotFound(f"no slot {number} at school {school_id}")
    slot.area = area
    session.add(slot)
    session.flush()
    return slot
