"""Users and access tokens; tokens are opaque and stored only as keyed hashes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from controller.core.types import UtcDateTime, utc_now

__all__ = [
    "AccessToken",
    "ApiTokenCreate",
    "ApiTokenIssued",
    "Role",
    "TokenResponse",
    "User",
    "UserCreate",
    "UserPublic",
]


class Role(StrEnum):
    OPS = "ops"
    SCHOOL = "school"
    TECHNICIAN = "technician"
    VENDOR = "vendor"


class UserBase(SQLModel):
    username: str = Field(
        min_length=1, max_length=64, schema_extra={"pattern": r"^[A-Za-z0-9_.@-]+$"}
    )
    role: Role
    school_id: int | None = Field(default=None, description="Required for role school.")
    vendor: str | None = Field(default=None, max_length=64, description="Required for vendor.")


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    school_id: int | None = Field(default=None, foreign_key="school.id", ondelete="CASCADE")
    password_hash: str = Field(max_length=255)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=256)


class UserPublic(UserBase):
    id: int
    disabled: bool


class AccessToken(SQLModel, table=True):
    """A login session or a machine's API token; revocable by deleting the row."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16, description="login or api.")
    name: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None = None


class ApiTokenCreate(SQLModel):
    name: str = Field(min_length=1, max_length=100)
    username: str | None = Field(default=None, description="Owner; ops only; default yourself.")


class ApiTokenIssued(TokenResponse):
    id: int
    name: str
