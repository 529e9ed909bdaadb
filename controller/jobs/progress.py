"""The ingest side of jobs: `job_progress` messages, written in the batch writer's thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from controller.core.types import utc_now
from controller.ingest.dispatcher import Dispatcher
from controller.jobs.service import apply_progress
from protocol import Kind

__all__ = ["register_job_handlers"]


def register_job_handlers(dispatcher: Dispatcher) -> None:
    """Route JOB_PROGRESS to the job state machine."""

    def progress(session: Session, messages: Sequence[Any]) -> None:
        apply_progress(session, messages, utc_now())

    dispatcher.register_batch(Kind.JOB_PROGRESS, progress)
