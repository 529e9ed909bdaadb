"""Events: things that happened at the edge, kept in the box's outbox until acknowledged."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from protocol.base import AgentEnvelope, Slot, Text, UtcDatetime, WireModel
from protocol.status import QualityFault
from protocol.topics import Kind

__all__ = [
    "CameraConnectivityEvent",
    "CameraFaultEvent",
    "ConfigEvent",
    "DiskPressureEvent",
    "Event",
    "EventBody",
    "QualityFaultEvent",
    "RecordingGapEvent",
    "RetentionPurgeEvent",
    "StorageFaultEvent",
]

Transition = Literal["raised", "cleared"]


class CameraConnectivityEvent(WireModel):
    """A camera stopped or resumed delivering media (stall = connected but silent)."""

    type: Literal["camera_offline", "camera_online", "camera_stalled"]
    slot: Slot
    reason: Text | None = None


class CameraFaultEvent(WireModel):
    """A camera the box cannot use as configured (unsupported URL or codec, no keyframe...)."""

    type: Literal["camera_fault"] = "camera_fault"
    slot: Slot
    problem: Literal[
        "unsupported_url", "unsupported_codec", "no_keyframe", "auth_failed", "unreachable"
    ]
    state: Transition
    detail: Text | None = None


class QualityFaultEvent(WireModel):
    """A picture fault raised after N consecutive hits, or cleared."""

    type: Literal["quality_fault"] = "quality_fault"
    slot: Slot
    fault: QualityFault
    state: Transition
    value: float | None = Field(default=None, description="The measured figure.")
    threshold: float | None = Field(default=None, description="The threshold it was judged by.")


class RecordingGapEvent(WireModel):
    """A stretch of scheduled time with no recording for a camera."""

    type: Literal["recording_gap"] = "recording_gap"
    slot: Slot
    start: UtcDatetime
    end: UtcDatetime
    reason: Text

    @model_validator(mode="after")
    def _ordered(self) -> RecordingGapEvent:
        if self.end < self.start:
            raise ValueError("gap end is before its start")
        return self


class DiskPressureEvent(WireModel):
    """Free space on the recording disk fell below (or recovered above) the reserve."""

    type: Literal["disk_pressure"] = "disk_pressure"
    path: str = Field(max_length=256)
    free_percent: float = Field(ge=0, le=100)
    threshold_percent: float = Field(ge=0, le=100)
    state: Transition


class RetentionPurgeEvent(WireModel):
    """Recordings were deleted: by age (normal), by disk reserve, or in an emergency."""

    type: Literal["retention_purge"] = "retention_purge"
    reason: Literal["age", "reserve", "emergency"]
    segments: int = Field(ge=0)
    freed_bytes: int = Field(ge=0)
    oldest_kept: UtcDatetime | None = None


class StorageFaultEvent(WireModel):
    """The recording store cannot be used as it should (unwritable, full, corrupt index)."""

    type: Literal["storage_fault"] = "storage_fault"
    path: str = Field(max_length=256)
    problem: Literal["unwritable", "full", "index_corrupt", "io_error"]
    state: Transition
    detail: Text | None = None


class ConfigEvent(WireModel):
    """A desired configuration was applied or rejected (also reported on config/reported)."""

    type: Literal["config_applied", "config_rejected"]
    version: int = Field(ge=0)
    errors: list[Text] = Field(default_factory=list, max_length=100)


EventBody = Annotated[
    CameraConnectivityEvent
    | CameraFaultEvent
    | QualityFaultEvent
    | RecordingGapEvent
    | DiskPressureEvent
    | RetentionPurgeEvent
    | StorageFaultEvent
    | ConfigEvent,
    Field(discriminator="type"),
]


class Event(AgentEnvelope):
    """One event; QoS 1, written to the box's outbox first and replayed in order."""

    kind: Literal[Kind.EVENT] = Kind.EVENT
    occurred_at: UtcDatetime
    body: EventBody
