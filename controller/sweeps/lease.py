"""Run-once-across-replicas: a lease row taken with a conditional write, on either database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from controller.sweeps.models import Lease

__all__ = ["take_lease"]


def take_lease(session: Session, *, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """True if `holder` now holds lease `name` (renewed, or taken over after it expired)."""
    result = session.exec(
        update(Lease)
        .where(
            col(Lease.name) == name,
            or_(col(Lease.holder) == holder, col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    if result.rowcount == 1:
        session.commit()
        return True
    if session.get(Lease, name) is not None:
        session.rollback()
        return False
    try:
        session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
