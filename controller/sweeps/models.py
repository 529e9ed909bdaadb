"""A lease row per sweep: whoever holds an unexpired lease runs it; works on both databases."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime

__all__ = ["Lease"]


class Lease(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=UtcDateTime)
