"""Routes for alarms: list (active or history), one alarm, acknowledge with a note."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime as datetime

from controller.alarms import service
from controller.alarms.models import AlarmAck, AlarmPublic, Severity
from controller.auth.deps import CurrentUser, ScopeDep, SessionDep
from controller.core.pagination import Page, PageParams, PageQuery

router = APIRouter(prefix="/alarms", tags=["alarms"])

AlarmId = Annotated[int, Path(ge=1)]


@router.get("", response_model=Page[AlarmPublic])
def list_alarms(
    session: SessionDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
    active: bool | None = None,
    acknowledged: bool | None = None,
    severity: Severity | None = None,
    type: str | None = None,
    box_id: str | None = None,
    school_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AlarmPublic]:
    items, total = service.list_alarms(
        session=session,
        scope=scope,
        offset=page.offset,
        limit=page.limit,
        active=active,
        acknowledged=acknowledged,
        severity=severity,
        alarm_type=type,
        box_id=box_id,
        school_id=school_id,
        since=since,
        until=until,
    )
    return Page.of([AlarmPublic.model_validate(a) for a in items], total, page)


@router.get("/{alarm_id}", response_model=AlarmPublic)
def get_alarm(alarm_id: AlarmId, session: SessionDep, scope: ScopeDep) -> AlarmPublic:
    return AlarmPublic.model_validate(
        service.get_alarm(session=session, scope=scope, alarm_id=alarm_id)
    )


@router.post("/{alarm_id}/ack", response_model=AlarmPublic)
def acknowledge(
    alarm_id: AlarmId, body: AlarmAck, session: SessionDep, scope: ScopeDep, user: CurrentUser
) -> AlarmPublic:
    alarm = service.acknowledge(
        session=session, scope=scope, alarm_id=alarm_id, username=user.username, note=body.note
    )
    return AlarmPublic.model_validate(alarm)
