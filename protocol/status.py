"""Per-camera status and per-box telemetry: the live picture of the fleet."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from protocol.base import AgentEnvelope, Slot, Text, UtcDatetime, WireModel
from protocol.topics import Kind

__all__ = [
    "HD_MIN_HEIGHT",
    "HD_MIN_WIDTH",
    "CameraState",
    "CameraStatus",
    "DiskUsage",
    "QualityFault",
    "StreamStats",
    "Telemetry",
    "is_hd",
]

HD_MIN_WIDTH = 1280
HD_MIN_HEIGHT = 720


def is_hd(width: int, height: int) -> bool:
    """The bureau's 'HD' target: at least 1280x720 (either orientation)."""
    long_side, short_side = max(width, height), min(width, height)
    return long_side >= HD_MIN_WIDTH and short_side >= HD_MIN_HEIGHT


class CameraState(StrEnum):
    """Whether media is really arriving from a camera."""

    ONLINE = "online"
    CONNECTING = "connecting"
    STALLED = "stalled"
    OFFLINE = "offline"
    ERROR = "error"
    DISABLED = "disabled"


class QualityFault(StrEnum):
    """Picture faults the box diagnoses on sampled keyframes."""

    SIGNAL_LOSS = "signal_loss"
    FROZEN = "frozen"
    OCCLUSION = "occlusion"
    BLUR = "blur"
    BRIGHTNESS = "brightness"
    COLOUR_CAST = "colour_cast"
    NOISE = "noise"


class StreamStats(WireModel):
    """What the packets say about a stream (no decoding needed)."""

    codec: str = Field(max_length=32, description="e.g. h264, hevc.")
    width: int = Field(ge=0, le=16384)
    height: int = Field(ge=0, le=16384)
    fps: float = Field(ge=0, le=1000)
    bitrate_kbps: float = Field(ge=0, le=1_000_000)
    gop: float | None = Field(default=None, ge=0, le=100_000, description="Frames per keyframe.")
    hd: bool = Field(description="At least 1280x720; must agree with width and height.")
    browser_playable: bool = Field(description="False for codecs browsers do not play (H.265).")
    audio_codec: str | None = Field(default=None, max_length=32)
    reconnects_per_hour: float = Field(default=0, ge=0)
    stalls_per_hour: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _hd_agrees(self) -> StreamStats:
        if self.hd != is_hd(self.width, self.height):
            raise ValueError(f"hd={self.hd} contradicts {self.width}x{self.height}")
        return self


class CameraStatus(AgentEnvelope):
    """Retained per slot; published on every change and on a slow heartbeat."""

    kind: Literal[Kind.CAMERA_STATUS] = Kind.CAMERA_STATUS
    slot: Slot
    state: CameraState
    since: UtcDatetime = Field(description="When the camera entered this state.")
    last_packet_at: UtcDatetime | None = None
    recording: bool = False
    completeness: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Recorded share of the scheduled time of the current UTC day so far.",
    )
    stream: StreamStats | None = None
    faults: list[QualityFault] = Field(default_factory=list, max_length=16)
    error: Text | None = Field(default=None, description="Why it is offline/in error, if known.")


class DiskUsage(WireModel):
    """One mounted filesystem."""

    mount: str = Field(max_length=256)
    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_percent: float = Field(ge=0, le=100)


class Telemetry(AgentEnvelope):
    """The box's own health, every telemetry interval."""

    kind: Literal[Kind.TELEMETRY] = Kind.TELEMETRY
    uptime_s: float = Field(ge=0)
    cpu_percent: float = Field(ge=0, le=100)
    memory_percent: float = Field(ge=0, le=100)
    memory_used_bytes: int = Field(ge=0)
    load_1m: float | None = Field(default=None, ge=0)
    disks: list[DiskUsage] = Field(default_factory=list, max_length=32)
    temperatures_c: dict[str, float] = Field(default_factory=dict, max_length=64)
    uplink_rtt_ms: float | None = Field(default=None, ge=0)
    outbox_backlog: int = Field(default=0, ge=0)
    outbox_dropped: int = Field(default=0, ge=0)
    link_reconnects: int = Field(default=0, ge=0)
    link: Literal["up", "down"] = "up"
    cameras_online: int = Field(default=0, ge=0)
    cameras_recording: int = Field(default=0, ge=0)
