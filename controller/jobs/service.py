"""Clip-export jobs: created by a person, run by the box, tracked here as durable rows.

State machine: queued -> in_progress -> succeeded | failed | timed_out | cancelled. Progress
only moves forward (a late `queued` after `in_progress` is ignored) and final states are final,
so redelivered or reordered QoS 1 messages cannot undo an outcome. A box may only report on its
own jobs, and a `succeeded` without a complete upload on our side becomes `failed`.

Durability: the row is written before anything is published. A job whose box was offline, or
whose request was never acknowledged (no progress heard), is published again when that box's
birth arrives, with a fresh upload token (only hashes are stored, so the old token cannot be
re-sent; a box that did get the first request keeps its job id and ignores the repeat).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from controller.auth.scope import Scope
from controller.auth.service import hash_token
from controller.core.errors import Conflict, NotFound
from controller.core.metrics import record_reject
from controller.core.pagination import paginate
from controller.core.settings import Settings
from controller.devices.service import get_box
from controller.jobs.models import STATE_RANK, ClipCreate, ClipJob
from controller.mqtt import Publisher
from protocol import ClipExportJob, JobProgress, JobRequest, JobState

__all__ = [
    "apply_progress",
    "cancel_job",
    "create_clip_job",
    "get_job",
    "list_jobs",
    "republish_pending",
    "time_out_jobs",
    "upload_url",
]

log = logging.getLogger(__name__)

FINAL = {s.value for s in JobState if s.final}


def upload_url(settings: Settings, job_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/api/v1/media/uploads/{job_id}"


def _publish_start(
    job: ClipJob, *, settings: Settings, publisher: Publisher | None, now: datetime
) -> bool:
    """Issue a fresh upload token (only its hash is kept) and send the job to the box."""
    if publisher is None:
        log.warning("no broker link; job stored only", extra={"job_id": job.id})
        return False
    token = secrets.token_urlsafe(24)
    job.upload_token_hash = hash_token(settings.secret_key, token)
    request = JobRequest(
        box_id=job.box_id,
        job_id=job.id,
        deadline=job.deadline,
        job=ClipExportJob(
            slot=job.slot,
            start=job.start,
            end=job.end,
            upload_url=upload_url(settings, job.id),
            upload_token=token,
        ),
    )
    sent = publisher.publish(request)
    if sent:
        job.published_at = now
    return sent


def create_clip_job(
    *,
    session: Session,
    scope: Scope,
    box_id: str,
    slot: int,
    data: ClipCreate,
    user_id: int | None,
    settings: Settings,
    publisher: Publisher | None,
    now: datetime,
) -> ClipJob:
    """Store a queued job and publish it if the box is online (else at its next birth)."""
    box = get_box(session=session, scope=scope, box_id=box_id)
    job = ClipJob(
        id=f"j-{uuid.uuid4().hex[:20]}",
        box_id=box.box_id,
        slot=slot,
        school_id=box.school_id,
        start=data.start,
        end=data.end,
        created_by=user_id,
        created_at=now,
        updated_at=now,
        deadline=now + timedelta(seconds=settings.clip_job_timeout_s),
        upload_token_hash=hash_token(settings.secret_key, secrets.token_urlsafe(24)),
    )
    session.add(job)
    session.flush()
    if box.online:
        _publish_start(job, settings=settings, publisher=publisher, now=now)
    else:
        job.message = "box offline; sent when it comes back"
    session.add(job)
    session.flush()
    return job


def republish_pending(
    session: Session,
    box_ids: Sequence[str],
    publisher: Publisher | None,
    settings: Settings,
    now: datetime,
) -> list[str]:
    """Send again the jobs of these (just born) boxes that were never acknowledged."""
    if not box_ids:
        return []
    jobs = session.exec(
        select(ClipJob).where(
            col(ClipJob.box_id).in_(list(box_ids)),
            ClipJob.state == JobState.QUEUED,
            col(ClipJob.acknowledged).is_(False),
            col(ClipJob.deadline) > now,
        )
    ).all()
    sent: list[str] = []
    for job in jobs:
        if _publish_start(job, settings=settings, publisher=publisher, now=now):
            job.message = None
            sent.append(job.id)
        session.add(job)
    if sent:
        log.info("jobs re-published to returning boxes", extra={"jobs": sent})
    return sent


def apply_progress(session: Session, messages: Sequence[JobProgress], now: datetime) -> int:
    """Move jobs along their state machine; returns how many rows changed."""
    changed = 0
    for message in messages:
        job = session.get(ClipJob, message.job_id)
        if job is None or job.box_id != message.box_id:
            record_reject(
                "unknown_job", box_id=message.box_id, detail=f"progress for {message.job_id}"
            )
            continue
        if _advance(job, message, now):
            session.add(job)
            changed += 1
    session.flush()
    return changed


def _advance(job: ClipJob, message: JobProgress, now: datetime) -> bool:
    job.acknowledged = True
    if job.state in FINAL:
        return True  # acknowledged, nothing else moves
    new = message.state.value
    if STATE_RANK[new] < STATE_RANK[job.state]:
        return True
    job.updated_at = now
    if new == JobState.SUCCEEDED and job.media_key is None:
        job.state = JobState.FAILED
        job.message = "box reported success but the clip upload is incomplete"
        job.finished_at = now
        log.warning("job success without upload", extra={"job_id": job.id, "box_id": job.box_id})
        return True
    job.state = new
    job.progress = max(job.progress, message.progress, 1.0 if new == JobState.SUCCEEDED else 0)
    job.message = message.message
    if message.result is not None:
        job.result = message.result.model_dump(mode="json")
    if JobState(new).final:
        job.finished_at = now
    return True


def cancel_job(
    *, session: Session, scope: Scope, job_id: str, publisher: Publisher | None, now: datetime
) -> ClipJob:
    """Cancel a job that has not finished and tell the box to stop."""
    job = get_job(session=session, scope=scope, job_id=job_id)
    if job.state in FINAL:
        raise Conflict(f"job {job_id} is already {job.state}")
    job.state = JobState.CANCELLED
    job.finished_at = now
    job.updated_at = now
    job.message = "cancelled by user"
    session.add(job)
    session.flush()
    if publisher is not None:
        publisher.publish(
            JobRequest(box_id=job.box_id, job_id=job.id, action="cancel", deadline=job.deadline)
        )
    return job


def time_out_jobs(session: Session, *, now: datetime) -> int:
    """Jobs still open past their deadline become timed_out (run by the sweep)."""
    jobs = session.exec(
        select(ClipJob).where(
            col(ClipJob.state).in_([JobState.QUEUED.value, JobState.IN_PROGRESS.value]),
            col(ClipJob.deadline) < now,
        )
    ).all()
    for job in jobs:
        job.state = JobState.TIMED_OUT
        job.finished_at = now
        job.updated_at = now
        job.message = "deadline passed before the box finished"
        session.add(job)
    if jobs:
        session.flush()
    return len(jobs)


def get_job(*, session: Session, scope: Scope, job_id: str) -> ClipJob:
    job = session.exec(
        select(ClipJob).where(ClipJob.id == job_id, scope.school_condition(ClipJob.school_id))
    ).first()
    if job is None:
        raise NotFound(f"no job {job_id!r}")
    return job


def list_jobs(
    *,
    session: Session,
    scope: Scope,
    offset: int,
    limit: int,
    state: str | None = None,
    box_id: str | None = None,
) -> tuple[list[ClipJob], int]:
    stmt = select(ClipJob).where(scope.school_condition(ClipJob.school_id))
    if state is not None:
        stmt = stmt.where(ClipJob.state == state)
    if box_id is not None:
        stmt = stmt.where(ClipJob.box_id == box_id)
    stmt = stmt.order_by(col(ClipJob.created_at).desc(), col(ClipJob.id))
    return paginate(session, stmt, offset=offset, limit=limit)
