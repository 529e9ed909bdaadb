"""Snapshots kept per slot, and clips read back for download; every read is scoped."""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from controller.auth.scope import Scope
from controller.core.errors import NotFound
from controller.core.pagination import paginate
from controller.devices.service import get_box
from controller.jobs.models import ClipJob
from controller.media.models import Snapshot, SnapshotPublic
from controller.media.signing import sign_path
from controller.media.storage import MediaStorage
from protocol import SnapshotResult

__all__ = [
    "BadSnapshot",
    "clip_path",
    "get_clip_job",
    "get_snapshot",
    "list_snapshots",
    "snapshot_path",
    "snapshot_public",
    "store_snapshot",
]

log = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"


class BadSnapshot(ValueError):
    """The box's snapshot result holds no usable JPEG."""


def snapshot_path(snapshot_id: str) -> str:
    return f"/api/v1/media/snapshots/{snapshot_id}"


def clip_path(job_id: str) -> str:
    return f"/api/v1/media/clips/{job_id}"


def snapshot_public(
    snapshot: Snapshot, *, secret_key: str, now: datetime, ttl_s: int
) -> SnapshotPublic:
    url = sign_path(secret_key, snapshot_path(snapshot.id), now=now, ttl_s=ttl_s)
    return SnapshotPublic.model_validate(snapshot, update={"download_url": url})


def store_snapshot(
    *,
    session: Session,
    storage: MediaStorage,
    box_id: str,
    school_id: int | None,
    result: SnapshotResult,
    request_id: str | None,
    keep: int,
    now: datetime,
) -> Snapshot:
    """Store the JPEG as the slot's newest snapshot and drop the ones beyond `keep`."""
    if result.jpeg_base64 is None:
        raise BadSnapshot("the box sent the snapshot as an upload reference, not supported yet")
    try:
        jpeg = base64.b64decode(result.jpeg_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSnapshot(f"snapshot is not valid base64: {exc}") from exc
    if not jpeg.startswith(JPEG_MAGIC):
        raise BadSnapshot("snapshot is not a JPEG")
    snapshot_id = uuid.uuid4().hex
    key = f"snapshots/{box_id}/{result.slot}/{snapshot_id}.jpg"
    storage.put(key, jpeg)
    snapshot = Snapshot(
        id=snapshot_id,
        box_id=box_id,
        slot=result.slot,
        school_id=school_id,
        request_id=request_id,
        taken_at=result.taken_at,
        received_at=now,
        width=result.width,
        height=result.height,
        bytes=len(jpeg),
        storage_key=key,
    )
    session.add(snapshot)
    session.flush()
    _trim(session, storage, box_id, result.slot, keep)
    return snapshot


def _trim(session: Session, storage: MediaStorage, box_id: str, slot: int, keep: int) -> None:
    old = session.exec(
        select(Snapshot)
        .where(Snapshot.box_id == box_id, Snapshot.slot == slot)
        .order_by(col(Snapshot.taken_at).desc(), col(Snapshot.received_at).desc())
        .offset(keep)
    ).all()
    for snapshot in old:
        session.delete(snapshot)
        try:
            storage.delete(snapshot.storage_key)
        except OSError:
            log.exception("could not delete old snapshot", extra={"key": snapshot.storage_key})
    if old:
        session.flush()


def list_snapshots(
    *, session: Session, scope: Scope, box_id: str, slot: int, offset: int, limit: int
) -> tuple[list[Snapshot], int]:
    """Newest first; a box outside the caller's scope is not found (404)."""
    get_box(session=session, scope=scope, box_id=box_id)
    stmt = (
        select(Snapshot)
        .where(
            Snapshot.box_id == box_id,
            Snapshot.slot == slot,
            scope.school_condition(Snapshot.school_id),
        )
        .order_by(col(Snapshot.taken_at).desc(), col(Snapshot.received_at).desc())
    )
    return paginate(session, stmt, offset=offset, limit=limit)


def get_snapshot(*, session: Session, scope: Scope, snapshot_id: str) -> Snapshot:
    snapshot = session.exec(
        select(Snapshot).where(
            Snapshot.id == snapshot_id, scope.school_condition(Snapshot.school_id)
        )
    ).first()
    if snapshot is None:
        raise NotFound(f"no snapshot {snapshot_id!r}")
    return snapshot


def get_clip_job(*, session: Session, scope: Scope, job_id: str) -> ClipJob:
    """The job whose finished clip may be downloaded by this caller."""
    job = session.exec(
        select(ClipJob).where(ClipJob.id == job_id, scope.school_condition(ClipJob.school_id))
    ).first()
    if job is None or job.media_key is None:
        raise NotFound(f"no clip {job_id!r}")
    return job
