"""Routes for the fleet summary, status history and camera availability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime as datetime

from controller.auth.deps import ScopeDep, SessionDep, SettingsDep
from controller.core.pagination import Page, PageParams, PageQuery
from controller.fleet import service
from controller.fleet.cache import SummaryCache
from controller.fleet.models import Availability, FleetSummary, StatusTransitionPublic

router = APIRouter(tags=["fleet"])

BoxIdPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]


@router.get("/fleet/summary", response_model=FleetSummary)
def summary(
    request: Request,
    session: SessionDep,
    scope: ScopeDep,
    settings: SettingsDep,
    school_id: int | None = None,
    district: str | None = None,
) -> FleetSummary:
    """Boxes and cameras online/offline, online rate, HD rate, quality faults, recording and
    recording completeness; up to `summary_cache_s` old (per caller scope and filter)."""
    cache: SummaryCache | None = getattr(request.app.state, "summary_cache", None)
    if cache is None:
        cache = request.app.state.summary_cache = SummaryCache(settings.summary_cache_s)
    return cache.get(
        (scope, school_id, district),
        lambda: service.summary(
            session=session, scope=scope, school_id=school_id, district=district
        ),
    )


@router.get("/boxes/{box_id}/history", response_model=Page[StatusTransitionPublic])
def history(
    box_id: BoxIdPath,
    session: SessionDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
    slot: Annotated[int, Query(ge=0, le=64, description="0 = the box itself.")] = 0,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Page[StatusTransitionPublic]:
    items, total = service.history(
        session=session,
        scope=scope,
        box_id=box_id,
        slot=slot,
        start=start,
        end=end,
        offset=page.offset,
        limit=page.limit,
    )
    return Page.of([StatusTransitionPublic.model_validate(t) for t in items], total, page)


@router.get("/boxes/{box_id}/cameras/{slot}/availability", response_model=Availability)
def availability(
    box_id: BoxIdPath,
    slot: Annotated[int, Path(ge=1, le=64)],
    session: SessionDep,
    scope: ScopeDep,
    start: datetime,
    end: datetime,
) -> Availability:
    """Share of [start, end) the camera delivered media while its box was online."""
    return service.availability(
        session=session, scope=scope, box_id=box_id, slot=slot, start=start, end=end
    )
