"""Routes for boxes and cameras (inventory and current state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from controller.auth.deps import ScopeDep, SessionDep, WriterScope
from controller.core.pagination import Page, PageParams, PageQuery
from controller.devices import service
from controller.devices.models import BoxPublic, BoxUpdate, CameraPublic

router = APIRouter(tags=["devices"])

BoxIdPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
SlotPath = Annotated[int, Path(ge=1, le=64)]


@router.get("/boxes", response_model=Page[BoxPublic])
def list_boxes(
    session: SessionDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
    school_id: int | None = None,
    online: bool | None = None,
) -> Page[BoxPublic]:
    items, total = service.list_boxes(
        session=session,
        scope=scope,
        offset=page.offset,
        limit=page.limit,
        school_id=school_id,
        online=online,
    )
    return Page.of([BoxPublic.model_validate(b) for b in items], total, page)


@router.get("/boxes/{box_id}", response_model=BoxPublic)
def get_box(box_id: BoxIdPath, session: SessionDep, scope: ScopeDep) -> BoxPublic:
    return BoxPublic.model_validate(service.get_box(session=session, scope=scope, box_id=box_id))


@router.put("/boxes/{box_id}", response_model=BoxPublic)
def assign_box(
    box_id: BoxIdPath, body: BoxUpdate, session: SessionDep, _scope: WriterScope
) -> BoxPublic:
    """Register a box or move it to a school (its cameras and alarms follow)."""
    box = service.assign_box(session=session, box_id=box_id, school_id=body.school_id)
    return BoxPublic.model_validate(box)


@router.get("/cameras", response_model=Page[CameraPublic])
def list_cameras(
    session: SessionDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
    school_id: int | None = None,
    box_id: str | None = None,
    state: str | None = None,
    online: bool | None = None,
    hd: bool | None = None,
    has_fault: bool | None = None,
    vendor: str | None = None,
) -> Page[CameraPublic]:
    items, total = service.list_cameras(
        session=session,
        scope=scope,
        offset=page.offset,
        limit=page.limit,
        school_id=school_id,
        box_id=box_id,
        state=state,
        online=online,
        hd=hd,
        has_fault=has_fault,
        vendor=vendor,
    )
    return Page.of([CameraPublic.model_validate(c) for c in items], total, page)


@router.get("/boxes/{box_id}/cameras/{slot}", response_model=CameraPublic)
def get_camera(
    box_id: BoxIdPath, slot: SlotPath, session: SessionDep, scope: ScopeDep
) -> CameraPublic:
    camera = service.get_camera(session=session, scope=scope, box_id=box_id, slot=slot)
    return CameraPublic.model_validate(camera)
