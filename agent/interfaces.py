"""The seams between the agent's roles.

The camera pipeline (capture, recording, diagnosis) and the link (MQTT, outbox, config,
commands) meet only here: the pipeline reports through an `EventSink` and is driven through
`Pipeline`; neither knows how the other is built. The composition root (`agent.app`) wires
them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from protocol import (
    BoxConfig,
    CameraInventory,
    CameraState,
    ClipResult,
    CommandErrorCode,
    ConfigIssue,
    EventBody,
    ProbeResult,
    QualityFault,
    RecordingSearchResult,
    StreamStats,
)

__all__ = [
    "CameraView",
    "CommandFailed",
    "ConfigRejected",
    "EventSink",
    "Pipeline",
    "Snapshot",
]


class CommandFailed(Exception):
    """A command could not be carried out; `code` becomes the error reply's code."""

    def __init__(self, code: CommandErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConfigRejected(Exception):
    """A configuration the pipeline refuses to apply; the running one stays in force."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class CameraView:
    """What the box knows about one camera right now (becomes a CameraStatus message)."""

    slot: int
    state: CameraState
    since: datetime
    last_packet_at: datetime | None = None
    recording: bool = False
    completeness: float | None = None
    stream: StreamStats | None = None
    faults: list[QualityFault] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """A JPEG of one keyframe."""

    slot: int
    jpeg: bytes
    width: int
    height: int
    taken_at: datetime


class EventSink(Protocol):
    """Where the pipeline reports; the link implements it (outbox first, then MQTT)."""

    def event(self, body: EventBody, occurred_at: datetime | None = None) -> None:
        """Something happened (camera offline, gap, quality fault, disk pressure...)."""

    def camera_changed(self, slot: int) -> None:
        """A camera's view changed (state, stats class, faults); publish its status soon."""


class Pipeline(Protocol):
    """The cameras, the recorder and the diagnosis, as the link and commands see them."""

    def start(self) -> None:
        """Start every camera worker and background role."""

    def stop(self) -> None:
        """Stop everything; returns within a few seconds."""

    def apply(self, config: BoxConfig) -> None:
        """Run `config` from now on without a restart; raise ConfigRejected to refuse it."""

    def cameras(self) -> list[CameraView]:
        """The current view of every configured camera, by slot."""

    def inventory(self) -> list[CameraInventory]:
        """The configured cameras, for the birth message."""

    def snapshot(self, slot: int, *, sub_stream: bool = False, timeout: float = 10.0) -> Snapshot:
        """A JPEG of the camera's next keyframe; CommandFailed if there is none in time."""

    def search(self, slot: int, start: datetime, end: datetime) -> RecordingSearchResult:
        """Segments and gaps of one camera in [start, end)."""

    def export_clip(
        self,
        slot: int,
        start: datetime,
        end: datetime,
        destination: Path,
        *,
        progress: Callable[[float], None],
        cancelled: Callable[[], bool],
    ) -> ClipResult:
        """Remux the recording covering [start, end] into one MP4 at `destination`."""

    def probe(self, slot: int, *, timeout: float = 10.0) -> ProbeResult:
        """Open the camera's stream now and say what it delivers."""
