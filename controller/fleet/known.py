"""What the ingest writer last wrote for each camera, so that a heartbeat needs no read.

Most statuses repeat what is held: a heartbeat moves only `status_at` and `last_packet_at`.
Finding that out took a read of each camera's row in every batch, the largest single cost of
ingest. The writer now remembers, per camera, a hash of the live content its last write left
and the `status_at` it wrote. A status with the same content is written by an UPDATE that
applies only while the row's `status_at` is still the remembered one: statuses are the only
writer of that column, so an unchanged `status_at` means unchanged content. When any of a
batch's remembered heartbeats does not apply (another replica wrote the camera, the row is
gone, the database was restored) those statuses take the full path, which reads the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from protocol import StreamStats

__all__ = ["STREAM_IDENTITY", "Known", "KnownCameras", "content_key", "stream_key"]

CameraKey = tuple[str, int]


def content_key(
    state: str,
    since: datetime | None,
    recording: bool,
    faults: Sequence[str] | None,
    error: str | None,
    completeness: float | None,
) -> int:
    """The live content a heartbeat must repeat, the stream aside (see `stream_key`)."""
    return hash((state, since, recording, tuple(faults or ()), error, completeness))


STREAM_IDENTITY = ("codec", "width", "height", "hd", "browser_playable", "audio_codec")
"""What makes a stream another stream. Its measured figures (fps, bitrate, GOP, reconnects
and stalls per hour) move in nearly every status a real camera sends; they are written with
the heartbeat rather than making each status a change."""


def stream_key(stream: Mapping[str, object] | StreamStats | None) -> int | None:
    """The stream's identity, from the database's JSON or from a message; None when unknown."""
    if stream is None:
        return None
    if isinstance(stream, StreamStats):
        return hash(tuple(getattr(stream, name) for name in STREAM_IDENTITY))
    return hash(tuple(stream.get(name) for name in STREAM_IDENTITY))


@dataclass(slots=True)
class Known:
    """One camera's row as this writer's last write left it."""

    content: int
    stream: int | None
    at: datetime


class KnownCameras:
    """Per-camera memory of the writer; bounded, and only ever a hint (see module doc)."""

    def __init__(self, limit: int = 400_000) -> None:
        self._limit = limit
        self._known: dict[CameraKey, Known] = {}

    def __len__(self) -> int:
        return len(self._known)

    def get(self, key: CameraKey) -> Known | None:
        return self._known.get(key)

    def remember(self, key: CameraKey, known: Known) -> None:
        if len(self._known) >= self._limit and key not in self._known:
            self._known.clear()  # a hint only: the next batch reads the rows again
        self._known[key] = known

    def forget(self, keys: Iterable[CameraKey]) -> None:
        for key in keys:
            self._known.pop(key, None)
