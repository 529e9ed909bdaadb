"""Box and camera tables: registry data plus the newest live state (newest-wins upserts).

The live columns sit on the same rows as the inventory so that the fleet summary and the
filtered camera list read one indexed table, not a join, at 160,000 cameras.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now

__all__ = ["CAMERA_DOWN", "Box", "BoxPublic", "BoxUpdate", "Camera", "CameraPublic"]

CAMERA_DOWN = "NOT (box_online AND state = 'online')"
"""A camera not delivering media to the centre; the partial index below holds exactly these,
so `online=false` lists read a few thousand index entries, not 160,000 rows. Queries must
use this very text for SQLite's planner to pick the index."""


class Box(SQLModel, table=True):
    """A school's edge box; `box_id` is its MQTT identity."""

    box_id: str = Field(primary_key=True, max_length=64)
    school_id: int | None = Field(default=None, index=True)
    online: bool = Field(default=False, index=True)
    session: int = Field(default=0, sa_type=BigInteger)
    boot_id: str | None = Field(default=None, max_length=64)
    software_version: str | None = Field(default=None, max_length=64)
    config_version: int = 0
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_seen: datetime | None = Field(default=None, sa_type=UtcDateTime)
    state_changed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    offline_reason: str | None = Field(default=None, max_length=32)
    telemetry: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class BoxUpdate(SQLModel):
    school_id: int | None = Field(default=None, description="Assign the box to a school.")


class BoxPublic(SQLModel):
    box_id: str
    school_id: int | None
    online: bool
    session: int
    boot_id: str | None
    software_version: str | None
    config_version: int
    started_at: datetime | None
    last_seen: datetime | None
    state_changed_at: datetime | None
    offline_reason: str | None
    telemetry: dict[str, object] | None


class Camera(SQLModel, table=True):
    """One camera slot of a box: what is installed there and how it is doing now."""

    __table_args__ = (
        # The summary counts over these without touching the table (COUNT on an index range).
        Index("ix_camera_live", "enabled", "box_online", "state", "recording"),
        Index("ix_camera_hd", "enabled", "hd"),
        Index("ix_camera_fault", "enabled", "has_fault"),
        Index("ix_camera_school_state", "school_id", "state"),
        Index(
            "ix_camera_down",
            "box_id",
            "slot",
            sqlite_where=text(CAMERA_DOWN),
            postgresql_where=text(CAMERA_DOWN),
        ),
        # Mean completeness of online boxes' cameras, and the few rows of offline boxes. No
        # status_at in it: every heartbeat moves that column, and an index on it made each one
        # rewrite every index of the row (on PostgreSQL a heap-only update is then impossible).
        Index("ix_camera_completeness", "enabled", "box_online", "completeness"),
    )

    box_id: str = Field(primary_key=True, max_length=64)
    slot: int = Field(primary_key=True)
    school_id: int | None = Field(default=None, index=True)
    name: str | None = Field(default=None, max_length=500)
    enabled: bool = True
    profile: str | None = Field(default=None, max_length=64)
    vendor: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    firmware: str | None = Field(default=None, max_length=64)
    capabilities: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    # live state
    state: str = Field(default="unknown", max_length=16)
    box_online: bool = False
    since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    status_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_packet_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    recording: bool = False
    hd: bool | None = None
    has_fault: bool = False
    faults: list[str] | None = Field(default=None, sa_column=Column(JSON))
    stream: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = Field(default=None, max_length=500)
    completeness: float | None = Field(
        default=None, description="Recorded share of today's (UTC) scheduled time, as reported."
    )


class CameraPublic(SQLModel):
    box_id: str
    slot: int
    school_id: int | None
    name: str | None
    enabled: bool
    profile: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    capabilities: dict[str, object] | None
    state: str
    box_online: bool
    since: datetime | None
    status_at: datetime | None
    last_packet_at: datetime | None
    recording: bool
    hd: bool | None
    has_fault: bool
    faults: list[str] | None
    stream: dict[str, object] | None
    error: str | None
    completeness: float | None
