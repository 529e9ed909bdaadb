"""Rows the media tests start from: a box at school A, a job with a known upload token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from controller.auth.service import hash_token
from controller.core.types import utc_now
from controller.devices.service import assign_box
from controller.jobs.models import ClipJob

__all__ = ["BOX", "UPLOAD_TOKEN", "make_job"]

BOX = "mh-0001-a"
UPLOAD_TOKEN = "tok_test_0123456789abcdef"


def make_job(engine: Engine, secret: str, school_id: int, job_id: str = "j-test1") -> str:
    """A queued clip job of BOX slot 1 whose upload token is UPLOAD_TOKEN."""
    now = utc_now()
    with Session(engine) as session:
        if session.get(ClipJob, job_id) is None:
            assign_box(session=session, box_id=BOX, school_id=school_id)
            session.add(
                ClipJob(
                    id=job_id,
                    box_id=BOX,
                    slot=1,
                    school_id=school_id,
                    start=now - timedelta(minutes=2),
                    end=now - timedelta(minutes=1),
                    deadline=now + timedelta(hours=1),
                    upload_token_hash=hash_token(secret, UPLOAD_TOKEN),
                )
            )
            session.commit()
    return job_id
