"""Routes for desired/reported configuration per box and defaults per school type."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request

from controller.auth.deps import OpsScope, ScopeDep, SessionDep, WriterScope
from controller.config import service
from controller.config.models import BoxConfigPublic, ConfigDefaultPublic, DesiredIn
from controller.schools.models import SchoolType

router = APIRouter(tags=["config"])

BoxIdPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]


@router.get("/boxes/{box_id}/config", response_model=BoxConfigPublic)
def get_box_config(box_id: BoxIdPath, session: SessionDep, scope: ScopeDep) -> BoxConfigPublic:
    """Desired version and document, and what the box reported (applied or rejected)."""
    record = service.get_box_config(session=session, scope=scope, box_id=box_id)
    return BoxConfigPublic.model_validate(record)


@router.put("/boxes/{box_id}/config", response_model=BoxConfigPublic)
def set_box_config(
    box_id: BoxIdPath, body: DesiredIn, session: SessionDep, scope: WriterScope, request: Request
) -> BoxConfigPublic:
    """Store a new desired version (validated) and publish it retained to the box."""
    record = service.set_box_config(
        session=session,
        scope=scope,
        box_id=box_id,
        document=body.document,
        publisher=request.app.state.publisher,
    )
    return BoxConfigPublic.model_validate(record)


@router.get("/config/defaults/{school_type}", response_model=ConfigDefaultPublic)
def get_default(
    school_type: SchoolType, session: SessionDep, _scope: ScopeDep
) -> ConfigDefaultPublic:
    return ConfigDefaultPublic.model_validate(
        service.get_default(session=session, school_type=school_type)
    )


@router.put("/config/defaults/{school_type}", response_model=ConfigDefaultPublic)
def set_default(
    school_type: SchoolType,
    session: SessionDep,
    _scope: OpsScope,
    document: Annotated[dict[str, Any], Body(embed=True)],
) -> ConfigDefaultPublic:
    """Sections (recording, quality, reporting) merged under every box of this school type."""
    record = service.set_default(session=session, school_type=school_type, document=document)
    return ConfigDefaultPublic.model_validate(record)
