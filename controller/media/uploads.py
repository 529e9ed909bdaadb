"""The controller side of the resumable clip upload (docs/uploads.md).

The partial object in media storage is the truth for the offset; the job row mirrors it for
the API. The token is checked against the stored hash only. Concurrent PATCHes to one job are
serialised by a striped lock (within a replica; across replicas the storage's offset check
still refuses a second writer with 409).
"""

from __future__ import annotations

import hmac
import logging
import threading
import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from controller.auth.service import hash_token
from controller.jobs.models import ClipJob
from controller.media.storage import MediaStorage, StorageFull
from protocol import JobState

__all__ = ["UploadRefused", "UploadStatus", "authorise", "receive_chunk", "status"]

log = logging.getLogger(__name__)

_LOCKS = tuple(threading.Lock() for _ in range(64))
MP4_BRAND = b"ftyp"


@dataclass(frozen=True)
class UploadStatus:
    offset: int
    complete: bool


class UploadRefused(Exception):
    """An HTTP answer of the upload protocol other than success."""

    def __init__(self, status_code: int, detail: str, offset: int | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.offset = offset


def clip_key(job_id: str) -> str:
    return f"clips/{job_id}.mp4"


def authorise(*, session: Session, secret_key: str, job_id: str, header: str | None) -> ClipJob:
    """The job this bearer token may upload into: 401 no or wrong token, 404 unknown job."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UploadRefused(401, "upload needs the job's bearer token")
    job = session.get(ClipJob, job_id)
    if job is None:
        raise UploadRefused(404, f"no job {job_id!r}")
    if not hmac.compare_digest(hash_token(secret_key, token.strip()), job.upload_token_hash):
        raise UploadRefused(401, "wrong upload token for this job")
    return job


def _refuse_closed(job: ClipJob) -> None:
    if job.media_key is None and job.state in (
        JobState.CANCELLED,
        JobState.TIMED_OUT,
        JobState.FAILED,
    ):
        raise UploadRefused(410, f"job {job.id} is {job.state}; upload no longer accepted")


def status(*, job: ClipJob, storage: MediaStorage) -> UploadStatus:
    """What HEAD answers: bytes held so far."""
    if job.media_key is not None and job.media_bytes is not None:
        return UploadStatus(offset=job.media_bytes, complete=True)
    _refuse_closed(job)
    return UploadStatus(offset=storage.partial_size(clip_key(job.id)), complete=False)


def _header_int(value: str | None, name: str) -> int:
    if value is None or not value.strip().isdigit():
        raise UploadRefused(400, f"{name} must be a non-negative integer")
    return int(value)


def receive_chunk(
    *,
    session: Session,
    storage: MediaStorage,
    job: ClipJob,
    offset_header: str | None,
    length_header: str | None,
    content_type: str | None,
    body: bytes,
    max_bytes: int,
    now: datetime,
) -> UploadStatus:
    """Append one PATCH body at its offset; finalise the MP4 when the length is reached."""
    if (content_type or "").split(";")[0].strip() != "application/offset+octet-stream":
        raise UploadRefused(415, "Content-Type must be application/offset+octet-stream")
    offset = _header_int(offset_header, "Upload-Offset")
    length = _header_int(length_header, "Upload-Length")
    with _LOCKS[zlib.crc32(job.id.encode()) % len(_LOCKS)]:
        held = status(job=job, storage=storage)
        if held.complete:
            if offset == held.offset and not body:
                return held
            raise UploadRefused(409, "upload already complete", offset=held.offset)
        if length == 0 or length > max_bytes:
            raise UploadRefused(413, f"Upload-Length must be 1..{max_bytes} bytes")
        if job.upload_length is not None and job.upload_length != length:
            raise UploadRefused(422, f"Upload-Length changed from {job.upload_length} to {length}")
        if offset != held.offset:
            raise UploadRefused(409, f"offset {offset}, server has {held.offset}", held.offset)
        if offset + len(body) > length:
            raise UploadRefused(422, "chunk runs past Upload-Length")
        key = clip_key(job.id)
        try:
            new_offset = storage.append(key, offset, body)
        except StorageFull as exc:
            log.error("media storage full", extra={"job_id": job.id})
            raise UploadRefused(507, "media storage is full; try again later", offset) from exc
        job.upload_offset = new_offset
        job.upload_length = length
        job.updated_at = now
        complete = new_offset == length
        if complete:
            if storage.head(key, 8)[4:8] != MP4_BRAND:
                storage.discard_partial(key)
                job.upload_offset = 0
                job.state = JobState.FAILED
                job.message = "uploaded file is not an MP4"
                job.finished_at = now
                session.add(job)
                session.commit()
                raise UploadRefused(422, "uploaded file is not an MP4 (no ftyp box)")
            job.media_bytes = storage.finalise(key)
            job.media_key = key
            log.info("clip upload complete", extra={"job_id": job.id, "bytes": job.media_bytes})
        session.add(job)
        session.commit()
        return UploadStatus(offset=new_offset, complete=complete)
