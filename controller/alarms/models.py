"""Alarm table: active/cleared x unacknowledged/acknowledged, with severity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now

__all__ = ["Alarm", "AlarmAck", "AlarmPublic", "Severity"]


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class Alarm(SQLModel, table=True):
    """`source` is `box:<id>` or `camera:<id>/<slot>`; at most one active row per type."""

    __table_args__ = (
        Index(
            "uq_alarm_active",
            "source",
            "type",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        Index("ix_alarm_list", "active", "acknowledged", "raised_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=80)
    type: str = Field(max_length=40, index=True)
    severity: Severity
    box_id: str = Field(max_length=64, index=True)
    slot: int | None = None
    school_id: int | None = Field(default=None, index=True)
    message: str = Field(default="", max_length=500)
    active: bool = True
    acknowledged: bool = False
    raised_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    cleared_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    acked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    acked_by: str | None = Field(default=None, max_length=64)
    ack_note: str | None = Field(default=None, max_length=1000)


class AlarmPublic(SQLModel):
    id: int
    source: str
    type: str
    severity: Severity
    box_id: str
    slot: int | None
    school_id: int | None
    message: str
    active: bool
    acknowledged: bool
    raised_at: datetime
    updated_at: datetime
    cleared_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str | None


class AlarmAck(SQLModel):
    note: str = Field(default="", max_length=1000)
