"""Birth and online/offline state: how the centre knows a box is there and what it has."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from protocol.base import AgentEnvelope, Slot, Text, UtcDatetime, WireModel
from protocol.topics import Kind

__all__ = ["Birth", "BoxState", "CameraCapabilities", "CameraInventory"]


class CameraCapabilities(WireModel):
    """What a camera can do, as its firmware profile and probing say."""

    ptz: bool = Field(default=False, description="Pan/tilt/zoom over ONVIF.")
    onvif: bool = Field(default=False, description="Answers ONVIF requests.")
    audio: bool = Field(default=False, description="Sends an audio track.")
    substream: bool = Field(default=False, description="Has a low-resolution sub stream.")


class CameraInventory(WireModel):
    """One configured camera, as listed in a birth."""

    slot: Slot
    name: Text = Field(description="The key area it watches, e.g. 'Main gate, outside'.")
    enabled: bool = True
    profile: str | None = Field(default=None, max_length=64, description="Firmware profile id.")
    vendor: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    firmware: str | None = Field(default=None, max_length=64)
    capabilities: CameraCapabilities = Field(default_factory=CameraCapabilities)


class Birth(AgentEnvelope):
    """Published on every connect: who the box is, what runs, which cameras it has."""

    kind: Literal[Kind.BIRTH] = Kind.BIRTH
    software_version: str = Field(max_length=64)
    session: int = Field(ge=0, lt=2**63, description="Connection counter; grows on every connect.")
    started_at: UtcDatetime = Field(description="When this agent process started.")
    config_version: int = Field(ge=0, description="Applied desired-config version; 0 = local file.")
    school: str | None = Field(default=None, max_length=64, description="School code, if known.")
    cameras: list[CameraInventory] = Field(default_factory=list, max_length=64)

    @field_validator("cameras")
    @classmethod
    def _unique_slots(cls, cameras: list[CameraInventory]) -> list[CameraInventory]:
        slots = [c.slot for c in cameras]
        if len(slots) != len(set(slots)):
            raise ValueError("camera slots must be unique")
        return cameras


class BoxState(AgentEnvelope):
    """Retained online/offline flag. The Last Will carries the session it was set for, so a
    will that arrives after a newer birth is recognised as stale and dropped."""

    kind: Literal[Kind.STATE] = Kind.STATE
    state: Literal["online", "offline"]
    session: int = Field(ge=0, lt=2**63)
    reason: Literal["connected", "shutdown", "connection_lost"] = Field(
        description="connected (birth), shutdown (clean stop), connection_lost (Last Will)."
    )
