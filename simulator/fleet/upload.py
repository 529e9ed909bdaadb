"""The box side of the resumable clip upload (see docs/uploads.md).

HEAD says how much the centre already has; PATCH sends the next chunk at that offset. A 409
means our offset was wrong: resume from the server's. Network errors and 5xx are retried with
capped exponential backoff, resuming from HEAD; any other 4xx is final.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx

__all__ = ["UploadFailed", "upload"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class UploadFailed(Exception):
    """The centre refused the upload for good, or it kept failing past the retry budget."""


async def upload(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    data: bytes,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    max_attempts: int = 8,
    backoff_s: float = 0.2,
    backoff_cap_s: float = 10.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Upload `data` to `url`; returns once the centre has confirmed the whole file."""
    auth = {"Authorization": f"Bearer {token}"}
    total = len(data)
    failures = 0
    while True:
        try:
            offset = await _server_offset(client, url, auth)
            while True:
                chunk = data[offset : offset + chunk_bytes]
                response = await _patch(client, url, auth, chunk, offset, total)
                if response.status_code == 409:
                    offset = _offset_header(response)
                    continue
                _raise_for(response, "PATCH")
                offset = _offset_header(response)
                if on_progress is not None:
                    on_progress(offset, total)
                if response.headers.get("Upload-Complete") == "1" or offset >= total:
                    return
        except _Retryable as exc:
            failures += 1
            if failures >= max_attempts:
                raise UploadFailed(f"upload kept failing after {failures} attempts: {exc}") from exc
            delay = min(backoff_cap_s, backoff_s * 2 ** (failures - 1))
            log.warning(
                "clip upload attempt %d failed (%s); retrying in %.1f s", failures, exc, delay
            )
            await asyncio.sleep(delay)


class _Retryable(Exception):
    pass


async def _server_offset(client: httpx.AsyncClient, url: str, auth: dict[str, str]) -> int:
    try:
        response = await client.head(url, headers=auth)
    except httpx.TransportError as exc:
        raise _Retryable(f"HEAD: {type(exc).__name__}") from exc
    _raise_for(response, "HEAD")
    return _offset_header(response)


async def _patch(
    client: httpx.AsyncClient, url: str, auth: dict[str, str], chunk: bytes, offset: int, total: int
) -> httpx.Response:
    headers = {
        **auth,
        "Upload-Offset": str(offset),
        "Upload-Length": str(total),
        "Content-Type": "application/offset+octet-stream",
    }
    try:
        return await client.patch(url, content=chunk, headers=headers)
    except httpx.TransportError as exc:
        raise _Retryable(f"PATCH: {type(exc).__name__}") from exc


def _raise_for(response: httpx.Response, verb: str) -> None:
    status = response.status_code
    if status >= 500:
        raise _Retryable(f"{verb} answered {status}")
    if status >= 400:
        raise UploadFailed(f"{verb} refused with HTTP {status}")


def _offset_header(response: httpx.Response) -> int:
    value = response.headers.get("Upload-Offset", "")
    if not value.isdigit():
        raise UploadFailed(f"HTTP {response.status_code} without a valid Upload-Offset")
    return int(value)
