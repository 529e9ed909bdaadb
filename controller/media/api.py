"""Media routes: the clip-upload protocol for boxes (job token), downloads for people.

Downloads accept either the caller's bearer token (scoped: another school's clip is 404) or a
signed URL handed out by the API to a caller whose scope allowed it, so a `<video>` element
can play a clip and seek in it (HTTP Range).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from controller.auth.deps import ScopeDep, SessionDep, SettingsDep
from controller.auth.scope import Scope
from controller.auth.service import resolve_token
from controller.core.errors import Unauthorized
from controller.core.pagination import Page, PageParams, PageQuery
from controller.core.types import utc_now
from controller.media import service, uploads
from controller.media.models import SnapshotPublic
from controller.media.signing import verify_signature
from controller.media.storage import DirectoryStorage, MediaStorage

__all__ = ["get_storage", "router"]

router = APIRouter(tags=["media"])

JobIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
MAX_CHUNK_BYTES = 32 * 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def get_storage(request: Request) -> MediaStorage:
    """The app's media storage (a directory from the settings unless one was installed)."""
    storage: MediaStorage | None = getattr(request.app.state, "media_storage", None)
    if storage is None:
        storage = DirectoryStorage(request.app.state.settings.media_dir)
        request.app.state.media_storage = storage
    return storage


StorageDep = Annotated[MediaStorage, Depends(get_storage)]


def media_scope(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    expires: Annotated[int | None, Query(description="Signed URL expiry (Unix time).")] = None,
    sig: Annotated[str | None, Query(max_length=128, description="Signed URL MAC.")] = None,
) -> Scope:
    """A valid signature opens this one path; otherwise the caller's own scope applies."""
    if sig is not None:
        if verify_signature(
            settings.secret_key, request.url.path, expires=expires, sig=sig, now=utc_now()
        ):
            return Scope.everything()
        raise Unauthorized("download link is invalid or has expired")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("not authenticated")
    user = resolve_token(session=session, secret_key=settings.secret_key, token=token.strip())
    return Scope(role=user.role, user_id=user.id, school_id=user.school_id, vendor=user.vendor)


MediaScope = Annotated[Scope, Depends(media_scope)]


def _upload_error(exc: uploads.UploadRefused) -> Response:
    headers = {"Cache-Control": "no-store"}
    if exc.offset is not None:
        headers["Upload-Offset"] = str(exc.offset)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


@router.head("/media/uploads/{job_id}", status_code=200)
def upload_offset(
    job_id: JobIdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> Response:
    """How many bytes of the job's clip the centre holds (auth: the job's upload token)."""
    try:
        job = uploads.authorise(
            session=session,
            secret_key=settings.secret_key,
            job_id=job_id,
            header=request.headers.get("Authorization"),
        )
        held = uploads.status(job=job, storage=storage)
    except uploads.UploadRefused as exc:
        return _upload_error(exc)
    headers = {"Upload-Offset": str(held.offset), "Cache-Control": "no-store"}
    if held.complete:
        headers["Upload-Complete"] = "1"
    return Response(status_code=200, headers=headers)


@router.patch("/media/uploads/{job_id}", status_code=204)
async def upload_chunk(
    job_id: JobIdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> Response:
    """Append the body at `Upload-Offset`; 409 with the server's offset when they differ."""
    try:
        job = await run_in_threadpool(
            uploads.authorise,
            session=session,
            secret_key=settings.secret_key,
            job_id=job_id,
            header=request.headers.get("Authorization"),
        )
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_CHUNK_BYTES:
            raise uploads.UploadRefused(413, f"a chunk is at most {MAX_CHUNK_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_CHUNK_BYTES:
            raise uploads.UploadRefused(413, f"a chunk is at most {MAX_CHUNK_BYTES} bytes")
        held = await run_in_threadpool(
            uploads.receive_chunk,
            session=session,
            storage=storage,
            job=job,
            offset_header=request.headers.get("Upload-Offset"),
            length_header=request.headers.get("Upload-Length"),
            content_type=request.headers.get("Content-Type"),
            body=body,
            max_bytes=settings.clip_max_bytes,
            now=utc_now(),
        )
    except uploads.UploadRefused as exc:
        return _upload_error(exc)
    headers = {"Upload-Offset": str(held.offset)}
    if held.complete:
        headers["Upload-Complete"] = "1"
    return Response(status_code=204, headers=headers)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single `bytes=` range; None = the whole file.

    Raises ValueError for a range that cannot be satisfied (answered 416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multi-range or another unit: serve the whole file, as RFC 9110 allows
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise ValueError("empty suffix range")
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


def _stream(
    storage: MediaStorage, key: str, size: int, media_type: str, range_header: str | None
) -> Response:
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300"}
    try:
        span = _byte_range(range_header, size)
    except ValueError:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    if span is None:
        chunks: Iterator[bytes] = storage.read(key)
        headers["Content-Length"] = str(size)
        return StreamingResponse(chunks, media_type=media_type, headers=headers)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        storage.read(key, start, end), status_code=206, media_type=media_type, headers=headers
    )


@router.get("/media/clips/{job_id}", response_class=Response)
def download_clip(
    job_id: JobIdPath,
    request: Request,
    session: SessionDep,
    scope: MediaScope,
    storage: StorageDep,
) -> Response:
    """The exported MP4; supports `Range` so players can seek."""
    job = service.get_clip_job(session=session, scope=scope, job_id=job_id)
    assert job.media_key is not None
    size = storage.size(job.media_key)
    if size is None:
        return JSONResponse({"detail": "clip file is missing"}, status_code=404)
    headers = request.headers
    return _stream(storage, job.media_key, size, "video/mp4", headers.get("Range"))


@router.get("/media/snapshots/{snapshot_id}", response_class=Response)
def download_snapshot(
    snapshot_id: Annotated[str, Path(pattern=r"^[a-f0-9]{32}$")],
    request: Request,
    session: SessionDep,
    scope: MediaScope,
    storage: StorageDep,
) -> Response:
    """One stored snapshot JPEG."""
    snapshot = service.get_snapshot(session=session, scope=scope, snapshot_id=snapshot_id)
    size = storage.size(snapshot.storage_key)
    if size is None:
        return JSONResponse({"detail": "snapshot file is missing"}, status_code=404)
    return _stream(storage, snapshot.storage_key, size, "image/jpeg", request.headers.get("Range"))


@router.get("/boxes/{box_id}/cameras/{slot}/snapshots", response_model=Page[SnapshotPublic])
def list_snapshots(
    box_id: Annotated[str, Path(max_length=64)],
    slot: Annotated[int, Path(ge=1, le=64)],
    session: SessionDep,
    settings: SettingsDep,
    scope: ScopeDep,
    page: Annotated[PageParams, Depends(PageQuery)],
) -> Page[SnapshotPublic]:
    """The slot's kept snapshots, newest first, each with a signed download URL."""
    items, total = service.list_snapshots(
        session=session,
        scope=scope,
        box_id=box_id,
        slot=slot,
        offset=page.offset,
        limit=page.limit,
    )
    now = utc_now()
    return Page.of(
        [
            service.snapshot_public(
                s, secret_key=settings.secret_key, now=now, ttl_s=settings.media_url_ttl_s
            )
            for s in items
        ],
        total,
        page,
    )
