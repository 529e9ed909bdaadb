"""Routes for clip-export jobs: create for a camera, list, read, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from controller.auth.deps import CurrentUser, ScopeDep, SessionDep, SettingsDep
from controller.core.pagination import Page, PageParams, PageQuery
from controller.core.settings import Settings
from controller.core.types import utc_now
from controller.jobs import service
from controller.jobs.models import ClipCreate, ClipJob, JobPublic
from controller.media.service import clip_path
from controller.media.signing import sign_path

__all__ = ["job_public", "router"]

router = APIRouter(tags=["jobs"])

BoxIdPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")]
SlotPath = Annotated[int, Path(ge=1, le=64)]
JobIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def job_public(job: ClipJob, settings: Settings) -> JobPublic:
    url = None
    if job.media_key is not None:
        url = sign_path(
            settings.secret_key, clip_path(job.id), now=utc_now(), ttl_s=settings.media_url_ttl_s
        )
    return JobPublic.model_validate(
        job, update={"clip_bytes": job.media_bytes, "download_url": url}
    )


@router.post("/boxes/{box_id}/cameras/{slot}/clips", response_model=JobPublic, status_code=201)
def create_clip(
    box_id: BoxIdPath,
    slot: SlotPath,
    body: ClipCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    scope: ScopeDep,
) -> JobPublic:
    """Queue an export of [start, end]; it reaches the box now, or when the box is back."""
    job = service.create_clip_job(
        session=session,
        scope=scope,
        box_id=box_id,
        slot=slot,
        data=body,
        user_id=user.id,
        settings=settings,
        publisher=request.app.state.publisher,
        now=utc_now(),
    )
    return job_public(job, settings)


@router.get("/jobs", response_model=Page[JobPublic])
def list_jobs(
    session: SessionDep,
    settings: SettingsDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
    state: str | None = None,
    box_id: str | None = None,
) -> Page[JobPublic]:
    items, total = service.list_jobs(
        session=session,
        scope=scope,
        offset=page.offset,
        limit=page.limit,
        state=state,
        box_id=box_id,
    )
    return Page.of([job_public(j, settings) for j in items], total, page)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(
    job_id: JobIdPath, session: SessionDep, settings: SettingsDep, scope: ScopeDep
) -> JobPublic:
    return job_public(service.get_job(session=session, scope=scope, job_id=job_id), settings)


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(
    job_id: JobIdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: ScopeDep,
) -> JobPublic:
    """Stop a job that has not finished; the box is told to cancel too."""
    job = service.cancel_job(
        session=session,
        scope=scope,
        job_id=job_id,
        publisher=request.app.state.publisher,
        now=utc_now(),
    )
    return job_public(job, settings)
