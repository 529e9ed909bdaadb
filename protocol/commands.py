"""Interactive commands: request -> reply, each with a request id and a deadline."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from protocol.base import AgentEnvelope, ControllerEnvelope, Slot, Text, UtcDatetime, WireModel
from protocol.status import StreamStats
from protocol.topics import Kind

__all__ = [
    "COMMAND_NAMES",
    "MAX_SNAPSHOT_BASE64",
    "AckResult",
    "CameraRebootCommand",
    "Command",
    "CommandError",
    "CommandErrorCode",
    "CommandReply",
    "CommandRequest",
    "CommandResult",
    "GapInfo",
    "ProbeCommand",
    "ProbeResult",
    "PtzMoveCommand",
    "PtzPresetCommand",
    "PtzStopCommand",
    "RecordingSearchCommand",
    "RecordingSearchResult",
    "RequestId",
    "SegmentInfo",
    "SnapshotCommand",
    "SnapshotResult",
]

MAX_SNAPSHOT_BASE64 = 900_000
RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class SnapshotCommand(WireModel):
    """A JPEG of the camera's next keyframe."""

    name: Literal["snapshot"] = "snapshot"
    slot: Slot
    sub_stream: bool = Field(default=False, description="Take it from the sub stream.")


class PtzMoveCommand(WireModel):
    """Continuous pan/tilt/zoom at the given speeds (-1..1), for at most `duration_s`."""

    name: Literal["ptz_move"] = "ptz_move"
    slot: Slot
    pan: float = Field(default=0, ge=-1, le=1)
    tilt: float = Field(default=0, ge=-1, le=1)
    zoom: float = Field(default=0, ge=-1, le=1)
    duration_s: float = Field(default=1, gt=0, le=30)


class PtzStopCommand(WireModel):
    """Stop any pan/tilt/zoom movement."""

    name: Literal["ptz_stop"] = "ptz_stop"
    slot: Slot


class PtzPresetCommand(WireModel):
    """Move to a stored preset position."""

    name: Literal["ptz_goto_preset"] = "ptz_goto_preset"
    slot: Slot
    preset: str = Field(min_length=1, max_length=64)


class ProbeCommand(WireModel):
    """Open the stream now and report what it delivers."""

    name: Literal["probe"] = "probe"
    slot: Slot


class CameraRebootCommand(WireModel):
    """Ask the camera to reboot (ONVIF SystemReboot)."""

    name: Literal["camera_reboot"] = "camera_reboot"
    slot: Slot


class RecordingSearchCommand(WireModel):
    """Segments and gaps of one camera in [start, end)."""

    name: Literal["recording_search"] = "recording_search"
    slot: Slot
    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> RecordingSearchCommand:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).days > 31:
            raise ValueError("a search spans at most 31 days")
        return self


Command = Annotated[
    SnapshotCommand
    | PtzMoveCommand
    | PtzStopCommand
    | PtzPresetCommand
    | ProbeCommand
    | CameraRebootCommand
    | RecordingSearchCommand,
    Field(discriminator="name"),
]


class CommandRequest(ControllerEnvelope):
    """A command for the box; the reply goes to `reply_to` before `deadline` or not at all."""

    kind: Literal[Kind.COMMAND_REQUEST] = Kind.COMMAND_REQUEST
    request_id: RequestId
    reply_to: str = Field(max_length=256, description="The box's command-reply topic.")
    deadline: UtcDatetime
    command: Command

    @field_validator("reply_to")
    @classmethod
    def _reply_topic_is_ours(cls, value: str) -> str:
        from protocol.topics import parse_topic

        if parse_topic(value).kind is not Kind.COMMAND_REPLY:
            raise ValueError("reply_to must be a schoolcam command-reply topic")
        return value


class CommandErrorCode(StrEnum):
    """Why a command failed; stable codes the API maps to HTTP statuses."""

    UNKNOWN_COMMAND = "unknown_command"
    BAD_ARGUMENTS = "bad_arguments"
    DEADLINE_EXPIRED = "deadline_expired"
    UNKNOWN_SLOT = "unknown_slot"
    CAMERA_OFFLINE = "camera_offline"
    UNSUPPORTED = "unsupported"
    BUSY = "busy"
    FAILED = "failed"


class CommandError(WireModel):
    """A clear failure, never silence."""

    code: CommandErrorCode
    message: Text


class SnapshotResult(WireModel):
    """A JPEG inline (base64) or, when too large, a reference to an upload."""

    type: Literal["snapshot"] = "snapshot"
    slot: Slot
    taken_at: UtcDatetime
    width: int = Field(ge=1, le=16384)
    height: int = Field(ge=1, le=16384)
    jpeg_base64: str | None = Field(default=None, max_length=MAX_SNAPSHOT_BASE64)
    upload_ref: str | None = Field(default=None, max_length=512)

    @model_validator(mode="after")
    def _has_picture(self) -> SnapshotResult:
        if (self.jpeg_base64 is None) == (self.upload_ref is None):
            raise ValueError("exactly one of jpeg_base64 and upload_ref")
        return self


class SegmentInfo(WireModel):
    """One recorded segment."""

    start: UtcDatetime
    end: UtcDatetime
    bytes: int = Field(ge=0)


class GapInfo(WireModel):
    """One stretch without recording."""

    start: UtcDatetime
    end: UtcDatetime
    reason: Text


class RecordingSearchResult(WireModel):
    """What a camera recorded, and did not, in a range."""

    type: Literal["recording_search"] = "recording_search"
    slot: Slot
    segments: list[SegmentInfo] = Field(default_factory=list, max_length=5000)
    gaps: list[GapInfo] = Field(default_factory=list, max_length=5000)
    truncated: bool = Field(default=False, description="More matched than fit in one reply.")


class ProbeResult(WireModel):
    """What a fresh connection to the camera found."""

    type: Literal["probe"] = "probe"
    slot: Slot
    reachable: bool
    stream: StreamStats | None = None
    detail: Text | None = None


class AckResult(WireModel):
    """Done; nothing more to say (PTZ, reboot)."""

    type: Literal["ack"] = "ack"


COMMAND_NAMES: frozenset[str] = frozenset(
    model.model_fields["name"].default
    for model in (
        SnapshotCommand,
        PtzMoveCommand,
        PtzStopCommand,
        PtzPresetCommand,
        ProbeCommand,
        CameraRebootCommand,
        RecordingSearchCommand,
    )
)
"""Every command a box understands; a request naming another is `unknown_command`."""

CommandResult = Annotated[
    SnapshotResult | RecordingSearchResult | ProbeResult | AckResult,
    Field(discriminator="type"),
]


class CommandReply(AgentEnvelope):
    """The box's answer to one request: a result, or an error, never both."""

    kind: Literal[Kind.COMMAND_REPLY] = Kind.COMMAND_REPLY
    request_id: RequestId
    ok: bool
    result: CommandResult | None = None
    error: CommandError | None = None

    @model_validator(mode="after")
    def _result_or_error(self) -> CommandReply:
        if self.ok and (self.result is None or self.error is not None):
            raise ValueError("ok=true needs a result and no error")
        if not self.ok and (self.error is None or self.result is not None):
            raise ValueError("ok=false needs an error and no result")
        return self
