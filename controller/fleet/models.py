"""Status history and the event log (the event log's unique key is the dedupe key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now

__all__ = [
    "Availability",
    "BoxEvent",
    "FleetSummary",
    "StatusTransition",
    "StatusTransitionPublic",
]


class StatusTransition(SQLModel, table=True):
    """A box (slot 0) or camera moved from one state to another at `at`."""

    __table_args__ = (Index("ix_transition_key_at", "box_id", "slot", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    box_id: str = Field(max_length=64)
    slot: int = Field(default=0, description="0 for the box itself.")
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    at: datetime = Field(sa_type=UtcDateTime)


class StatusTransitionPublic(SQLModel):
    box_id: str
    slot: int
    from_state: str | None
    to_state: str
    at: datetime


class BoxEvent(SQLModel, table=True):
    """Every event a box sent, once: (box_id, boot_id, seq) is unique."""

    __table_args__ = (
        UniqueConstraint("box_id", "boot_id", "seq", name="uq_box_event_key"),
        Index("ix_box_event_box_time", "box_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    box_id: str = Field(max_length=64)
    boot_id: str = Field(max_length=64)
    seq: int = Field(sa_type=BigInteger)
    type: str = Field(max_length=32)
    slot: int | None = None
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    historical: bool = False
    body: dict[str, object] = Field(sa_column=Column(JSON, nullable=False))


class FleetSummary(SQLModel):
    boxes_total: int
    boxes_online: int
    boxes_offline: int
    cameras_total: int
    cameras_online: int
    cameras_offline: int
    online_rate: float | None
    hd_cameras: int
    hd_rate: float | None
    quality_fault_cameras: int
    cameras_recording: int
    recording_rate: float | None
    completeness_cameras: int = Field(
        description="Cameras whose box reported today's recording completeness."
    )
    recording_completeness: float | None = Field(
        description=(
            "Mean recorded share of today's (UTC) scheduled time over those cameras; a camera "
            "of an offline box counts what it had recorded when last heard, over the day so far."
        )
    )


class Availability(SQLModel):
    box_id: str
    slot: int
    start: datetime
    end: datetime
    online_seconds: float
    availability: float
