"""Snapshot rows (the JPEG lives in media storage) and the media API's shapes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now

__all__ = ["Snapshot", "SnapshotPublic"]


class Snapshot(SQLModel, table=True):
    """One JPEG of a camera slot; the newest N per slot are kept."""

    __table_args__ = (Index("ix_snapshot_slot_taken", "box_id", "slot", "taken_at"),)

    id: str = Field(primary_key=True, max_length=40)
    box_id: str = Field(max_length=64)
    slot: int
    school_id: int | None = Field(default=None, index=True)
    request_id: str | None = Field(default=None, max_length=64)
    taken_at: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    width: int
    height: int
    bytes: int
    storage_key: str = Field(max_length=300)


class SnapshotPublic(SQLModel):
    id: str
    box_id: str
    slot: int
    school_id: int | None
    taken_at: datetime
    received_at: datetime
    width: int
    height: int
    bytes: int
    download_url: str = Field(description="Signed URL, valid for a while without a token.")
