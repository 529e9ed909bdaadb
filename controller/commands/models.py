"""What the commands API takes and answers.

The body is a protocol command without its slot (the slot is in the path), e.g.
`{"name": "ptz_move", "pan": 0.5, "duration_s": 2}`; it is validated by the protocol's own
models, so the API accepts exactly what a box understands.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.media.models import SnapshotPublic

__all__ = ["CommandIn", "CommandName", "CommandOutcome"]

CommandName = Literal[
    "snapshot",
    "ptz_move",
    "ptz_stop",
    "ptz_goto_preset",
    "probe",
    "camera_reboot",
    "recording_search",
]


class CommandIn(BaseModel):
    """A command for one camera; the other fields are the command's own arguments."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"name": "snapshot"}, {"name": "ptz_move", "pan": 0.5}]},
    )

    name: CommandName
    timeout_s: float | None = Field(
        default=None, gt=0, le=120, description="How long to wait for the box (default 10 s)."
    )

    def arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class CommandOutcome(BaseModel):
    """The box's answer to a command that succeeded."""

    request_id: str
    box_id: str
    slot: int
    name: str
    result: dict[str, Any] = Field(description="The protocol's result (snapshot without JPEG).")
    snapshot: SnapshotPublic | None = Field(default=None, description="For snapshot commands.")
    elapsed_ms: float
