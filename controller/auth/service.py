"""Users, password checks (argon2) and opaque tokens stored as keyed SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from controller.auth.models import AccessToken, Role, User, UserCreate
from controller.core.errors import Conflict, Invalid, NotFound, Unauthorized
from controller.core.types import utc_now
from controller.schools.models import School

__all__ = [
    "authenticate",
    "create_user",
    "hash_token",
    "issue_token",
    "list_users",
    "resolve_token",
]

_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_token(secret_key: str, token: str) -> str:
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def create_user(*, session: Session, data: UserCreate) -> User:
    """Create a user, checking the binding its role needs (school or vendor)."""
    if data.role == Role.SCHOOL:
        if data.school_id is None or session.get(School, data.school_id) is None:
            raise Invalid("a school user needs an existing school_id")
    elif data.school_id is not None:
        raise Invalid("only a school user is bound to a school")
    if data.role == Role.VENDOR:
        if not data.vendor:
            raise Invalid("a vendor user needs a vendor")
    elif data.vendor is not None:
        raise Invalid("only a vendor user is bound to a vendor")
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(f"user {data.username!r} exists")
    user = User(
        username=data.username,
        role=data.role,
        school_id=data.school_id,
        vendor=data.vendor,
        password_hash=_hasher.hash(data.password),
    )
    session.add(user)
    session.flush()
    return user


def list_users(*, session: Session, offset: int, limit: int) -> tuple[list[User], int]:
    users = session.exec(select(User).order_by(col(User.id)).offset(offset).limit(limit)).all()
    total = len(session.exec(select(User.id)).all())
    return list(users), total


def get_user_by_name(*, session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The user whose password this is, or Unauthorized (same answer for unknown users)."""
    user = session.exec(select(User).where(User.username == username)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong user name or password") from None
    if user is None or user.disabled:
        raise Unauthorized("wrong user name or password")
    return user


def issue_token(
    *,
    session: Session,
    secret_key: str,
    user: User,
    kind: str,
    name: str = "",
    ttl: timedelta | None = None,
) -> tuple[str, AccessToken]:
    """A new random token; only its hash is stored, so the caller must hand it out now."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    record = AccessToken(
        token_hash=hash_token(secret_key, token),
        user_id=user.id,
        kind=kind,
        name=name,
        expires_at=utc_now() + ttl if ttl else None,
    )
    session.add(record)
    session.flush()
    return token, record


def resolve_token(
    *, session: Session, secret_key: str, token: str, now: datetime | None = None
) -> User:
    """The user a token belongs to, or Unauthorized if it is unknown, expired or disabled."""
    digest = hash_token(secret_key, token)
    record = session.exec(select(AccessToken).where(AccessToken.token_hash == digest)).first()
    if record is None:
        raise Unauthorized("invalid token")
    if record.expires_at is not None and record.expires_at <= (now or utc_now()):
        raise Unauthorized("token expired")
    user = session.get(User, record.user_id)
    if user is None or user.disabled:
        raise Unauthorized("invalid token")
    return user
