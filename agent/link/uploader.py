"""Resumable clip upload to the centre over HTTP (see docs/uploads.md).

HEAD tells how much the server already has; PATCH sends the next chunk at that offset. A 409
means the server's offset differs, and the upload resumes from it. Network errors and 5xx are
retried with capped exponential backoff (resuming from HEAD); any other 4xx is final.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["UploadCancelled", "UploadFailed", "Uploader"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class UploadFailed(Exception):
    """The server refused the upload for good (4xx other than 409), or retries ran out."""


class UploadCancelled(Exception):
    """The job was cancelled while uploading."""


class _Retry(Exception):
    """A transient failure; resume from the server's offset after a pause."""


@dataclass
class Uploader:
    """Uploads one file to one upload URL with a bearer token."""

    chunk_bytes: int = CHUNK_BYTES
    timeout_s: float = 30.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_attempts: int = 20

    def upload(
        self,
        path: Path,
        url: str,
        token: str,
        *,
        progress: Callable[[int, int], None] = lambda _sent, _total: None,
        cancelled: Callable[[], bool] = lambda: False,
        stop: threading.Event | None = None,
    ) -> None:
        """Upload `path` completely, resuming from whatever the server already holds."""
        total = path.stat().st_size
        waiter = stop or threading.Event()
        failures = 0
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=self.timeout_s) as client:
            while True:
                if cancelled() or waiter.is_set():
                    raise UploadCancelled("upload cancelled")
                try:
                    if self._attempt(client, path, url, headers, total, progress, cancelled):
                        return
                    failures = 0
                except _Retry as exc:
                    failures += 1
                    if failures >= self.max_attempts:
                        raise UploadFailed(f"gave up after {failures} attempts: {exc}") from exc
                    delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
                    log.warning("upload interrupted (%s); retrying in %.1f s", exc, delay)
                    waiter.wait(delay)

    def _attempt(
        self,
        client: httpx.Client,
        path: Path,
        url: str,
        headers: dict[str, str],
        total: int,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> bool:
        """Resume from HEAD's offset and send chunks; True once the server has it all."""
        offset = self._server_offset(client, url, headers)
        with path.open("rb") as handle:
            while True:
                if cancelled():
                    raise UploadCancelled("upload cancelled")
                progress(offset, total)
                handle.seek(offset)
                chunk = handle.read(self.chunk_bytes)
                if not chunk and offset < total:
                    raise UploadFailed(f"file shrank to {offset} of {total} bytes")
                try:
                    response = client.patch(
                        url,
                        content=chunk,
                        headers={
                            **headers,
                            "Upload-Offset": str(offset),
                            "Upload-Length": str(total),
                            "Content-Type": "application/offset+octet-stream",
                        },
                    )
                except httpx.HTTPError as exc:
                    raise _Retry(f"PATCH at {offset}: {type(exc).__name__}") from exc
                if response.status_code == 409:
                    offset = _offset_header(response, "409")
                    continue
                _check(response, "PATCH")
                offset = _offset_header(response, "PATCH")
                if response.headers.get("Upload-Complete") == "1" or offset >= total:
                    progress(total, total)
                    return True

    def _server_offset(self, client: httpx.Client, url: str, headers: dict[str, str]) -> int:
        try:
            response = client.head(url, headers=headers)
        except httpx.HTTPError as exc:
            raise _Retry(f"HEAD: {type(exc).__name__}") from exc
        _check(response, "HEAD")
        return _offset_header(response, "HEAD")


def _check(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status >= 500:
        raise _Retry(f"{what} answered {status}")
    if status >= 400:
        raise UploadFailed(f"{what} refused with HTTP {status}")


def _offset_header(response: httpx.Response, what: str) -> int:
    try:
        return int(response.headers["Upload-Offset"])
    except (KeyError, ValueError) as exc:
        raise _Retry(f"{what} answer has no valid Upload-Offset") from exc
