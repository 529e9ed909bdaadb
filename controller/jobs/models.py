"""The clip-export job row: a durable state machine plus the progress of its upload.

Only the hash of the per-job upload token is stored, so a leaked database cannot be used to
upload into a job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import model_validator
from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now
from protocol import JobState

__all__ = ["STATE_RANK", "ClipCreate", "ClipJob", "JobPublic"]

STATE_RANK: dict[str, int] = {
    JobState.QUEUED: 0,
    JobState.IN_PROGRESS: 1,
    JobState.SUCCEEDED: 2,
    JobState.FAILED: 2,
    JobState.TIMED_OUT: 2,
    JobState.CANCELLED: 2,
}
"""Progress only moves up this ladder; the final states share the top rung."""


class ClipJob(SQLModel, table=True):
    """Export of [start, end] of one camera, run by its box, uploaded to media storage."""

    __table_args__ = (
        Index("ix_clipjob_state_deadline", "state", "deadline"),
        Index("ix_clipjob_box_state", "box_id", "state"),
    )

    id: str = Field(primary_key=True, max_length=64)
    box_id: str = Field(max_length=64)
    slot: int
    school_id: int | None = Field(default=None, index=True)
    start: datetime = Field(sa_type=UtcDateTime)
    end: datetime = Field(sa_type=UtcDateTime)
    state: str = Field(default=JobState.QUEUED, max_length=16)
    progress: float = 0.0
    message: str | None = Field(default=None, max_length=500)
    created_by: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    deadline: datetime = Field(sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    acknowledged: bool = Field(default=False, description="The box has reported on it.")
    upload_token_hash: str = Field(max_length=64)
    upload_length: int | None = Field(default=None, sa_type=BigInteger)
    upload_offset: int = Field(default=0, sa_type=BigInteger)
    media_key: str | None = Field(default=None, max_length=300)
    media_bytes: int | None = Field(default=None, sa_type=BigInteger)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ClipCreate(SQLModel):
    """A stretch of one camera's recording to export (at most 24 hours)."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> ClipCreate:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).total_seconds() > 24 * 3600:
            raise ValueError("a clip spans at most 24 hours")
        return self


class JobPublic(SQLModel):
    id: str
    type: str = "clip_export"
    box_id: str
    slot: int
    school_id: int | None
    start: datetime
    end: datetime
    state: str
    progress: float
    message: str | None
    created_at: datetime
    updated_at: datetime
    deadline: datetime
    finished_at: datetime | None
    acknowledged: bool
    upload_offset: int
    upload_length: int | None
    clip_bytes: int | None
    result: dict[str, Any] | None
    download_url: str | None = None
