"""School and slot tables and their API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now

__all__ = [
    "DEFAULT_SLOT_AREAS",
    "School",
    "SchoolCreate",
    "SchoolPublic",
    "SchoolType",
    "SchoolUpdate",
    "Slot",
    "SlotPublic",
    "SlotUpdate",
]


class SchoolType(StrEnum):
    PRIMARY = "primary"
    MIDDLE = "middle"
    KINDERGARTEN = "kindergarten"


DEFAULT_SLOT_AREAS: tuple[str, ...] = (
    "Main gate, outside",
    "Main gate, inside",
    "Perimeter north",
    "Perimeter south",
    "Gatehouse",
    "Building entrance A",
    "Building entrance B",
    "Corridor",
    "Stairs",
    "Playground",
    "Canteen kitchen",
    "Dining hall",
    "Finance room",
    "Monitoring room",
    "Side gate",
    "Car park",
)


class SchoolBase(SQLModel):
    code: str = Field(
        min_length=1, max_length=64, index=True, schema_extra={"pattern": r"^[a-z0-9][a-z0-9-]*$"}
    )
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(default="", max_length=100, index=True)
    type: SchoolType = Field(index=True)
    address: str = Field(default="", max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    vendor: str | None = Field(default=None, max_length=64, index=True)


class School(SchoolBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class SchoolCreate(SchoolBase):
    pass


class SchoolUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    district: str | None = Field(default=None, max_length=100)
    type: SchoolType | None = None
    address: str | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    vendor: str | None = Field(default=None, max_length=64)


class SchoolPublic(SchoolBase):
    id: int
    created_at: datetime


class Slot(SQLModel, table=True):
    """One of a school's key areas; a camera at that slot number watches it."""

    __table_args__ = (UniqueConstraint("school_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True, ondelete="CASCADE")
    number: int = Field(ge=1, le=64)
    area: str = Field(max_length=200)


class SlotUpdate(SQLModel):
    area: str = Field(min_length=1, max_length=200)


class SlotPublic(SQLModel):
    number: int
    area: str
