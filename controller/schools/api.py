"""Routes for schools and their slots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from controller.auth.deps import ScopeDep, SessionDep, WriterScope
from controller.core.pagination import Page, PageParams, PageQuery
from controller.schools import service
from controller.schools.models import (
    SchoolCreate,
    SchoolPublic,
    SchoolType,
    SchoolUpdate,
    SlotPublic,
    SlotUpdate,
)

router = APIRouter(prefix="/schools", tags=["schools"])

SchoolId = Annotated[int, Path(ge=1)]


@router.post("", response_model=SchoolPublic, status_code=201)
def create_school(body: SchoolCreate, session: SessionDep, _scope: WriterScope) -> SchoolPublic:
    return SchoolPublic.model_validate(service.create_school(session=session, data=body))


@router.get("", response_model=Page[SchoolPublic])
def list_schools(
    session: SessionDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
    district: str | None = None,
    type: SchoolType | None = None,
    vendor: str | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Name or code contains.")] = None,
) -> Page[SchoolPublic]:
    items, total = service.list_schools(
        session=session,
        scope=scope,
        offset=page.offset,
        limit=page.limit,
        district=district,
        school_type=type,
        vendor=vendor,
        q=q,
    )
    return Page.of([SchoolPublic.model_validate(s) for s in items], total, page)


@router.get("/{school_id}", response_model=SchoolPublic)
def get_school(school_id: SchoolId, session: SessionDep, scope: ScopeDep) -> SchoolPublic:
    school = service.get_school(session=session, scope=scope, school_id=school_id)
    return SchoolPublic.model_validate(school)


@router.patch("/{school_id}", response_model=SchoolPublic)
def update_school(
    school_id: SchoolId, body: SchoolUpdate, session: SessionDep, scope: WriterScope
) -> SchoolPublic:
    school = service.update_school(session=session, scope=scope, school_id=school_id, data=body)
    return SchoolPublic.model_validate(school)


@router.get("/{school_id}/slots", response_model=list[SlotPublic])
def list_slots(school_id: SchoolId, session: SessionDep, scope: ScopeDep) -> list[SlotPublic]:
    slots = service.list_slots(session=session, scope=scope, school_id=school_id)
    return [SlotPublic.model_validate(s) for s in slots]


@router.put("/{school_id}/slots/{number}", response_model=SlotPublic)
def update_slot(
    school_id: SchoolId,
    number: Annotated[int, Path(ge=1, le=64)],
    body: SlotUpdate,
    session: SessionDep,
    scope: WriterScope,
) -> SlotPublic:
    slot = service.update_slot(
        session=session, scope=scope, school_id=school_id, number=number, area=body.area
    )
    return SlotPublic.model_validate(slot)
