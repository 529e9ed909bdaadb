"""Desired/reported configuration per box, and defaults per school type."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now
from controller.schools.models import SchoolType

__all__ = [
    "BoxConfigPublic",
    "BoxConfigRecord",
    "ConfigDefault",
    "ConfigDefaultPublic",
    "DesiredIn",
]


class ConfigDefault(SQLModel, table=True):
    """Sections (recording, quality, reporting) every box of a school type starts from."""

    school_type: SchoolType = Field(primary_key=True)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class BoxConfigRecord(SQLModel, table=True):
    """What the centre wants a box to run, and what the box said about it."""

    box_id: str = Field(primary_key=True, max_length=64)
    version: int = 0
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    merged: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    reported_version: int | None = None
    reported_desired_version: int | None = None
    reported_status: str | None = Field(default=None, max_length=16)
    reported_errors: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    reported_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class DesiredIn(SQLModel):
    """A box's own part of its configuration; sections left out come from the defaults."""

    document: dict[str, Any] = Field(description="A partial protocol.BoxConfig document.")


class BoxConfigPublic(SQLModel):
    box_id: str
    version: int
    document: dict[str, Any]
    merged: dict[str, Any]
    updated_at: datetime
    published_at: datetime | None
    reported_version: int | None
    reported_desired_version: int | None
    reported_status: str | None
    reported_errors: list[dict[str, Any]] | None
    reported_at: datetime | None


class ConfigDefaultPublic(SQLModel):
    school_type: SchoolType
    document: dict[str, Any]
    updated_at: datetime
