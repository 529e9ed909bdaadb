"""The command route: one POST per camera, answered with the box's reply or a clear error."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from controller.auth.deps import ScopeDep, SessionDep, SettingsDep
from controller.commands import service
from controller.commands.models import CommandIn, CommandOutcome
from controller.media.api import StorageDep

__all__ = ["router"]

router = APIRouter(tags=["commands"])

BoxIdPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
SlotPath = Annotated[int, Path(ge=1, le=64)]


@router.post(
    "/boxes/{box_id}/cameras/{slot}/commands",
    response_model=CommandOutcome,
    responses={
        404: {"description": "No such box in your scope, or the box has no camera there."},
        409: {"description": "The camera is offline."},
        422: {"description": "The command's arguments are invalid."},
        429: {"description": "The box is busy."},
        501: {"description": "The camera or box does not support this command."},
        502: {"description": "The box tried and failed."},
        503: {"description": "The box is offline, or the controller has no broker link."},
        504: {"description": "No reply in time."},
    },
)
def run_command(
    box_id: BoxIdPath,
    slot: SlotPath,
    body: CommandIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: ScopeDep,
    storage: StorageDep,
) -> CommandOutcome:
    """Snapshot, PTZ, probe, camera reboot or recording search on one camera."""
    state = request.app.state
    return service.run_command(
        session=session,
        scope=scope,
        box_id=box_id,
        slot=slot,
        body=body,
        publisher=state.publisher,
        waiters=getattr(state, "command_replies", None),
        routes=getattr(state, "command_routes", None),
        storage=storage,
        settings=settings,
    )
