"""Durable jobs (clip export): stored by the centre, run by the box, reported as progress."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from protocol.base import AgentEnvelope, ControllerEnvelope, Slot, Text, UtcDatetime, WireModel
from protocol.commands import GapInfo, RequestId
from protocol.topics import Kind

__all__ = ["ClipExportJob", "ClipResult", "JobProgress", "JobRequest", "JobState"]


class JobState(StrEnum):
    """The job state machine; the last four are final."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """No further progress follows a final state."""
        return self in {JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED}


class ClipExportJob(WireModel):
    """Remux the recording of one camera in [start, end] into one MP4 and upload it."""

    type: Literal["clip_export"] = "clip_export"
    slot: Slot
    start: UtcDatetime
    end: UtcDatetime
    upload_url: str = Field(pattern=r"^https?://", max_length=2048)
    upload_token: str = Field(min_length=16, max_length=512, description="Bearer for the upload.")

    @model_validator(mode="after")
    def _ordered(self) -> ClipExportJob:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).total_seconds() > 24 * 3600:
            raise ValueError("a clip spans at most 24 hours")
        return self


class JobRequest(ControllerEnvelope):
    """Start or cancel a job on the box. Starting a job id the box already has is a no-op."""

    kind: Literal[Kind.JOB_REQUEST] = Kind.JOB_REQUEST
    job_id: RequestId
    action: Literal["start", "cancel"] = "start"
    job: ClipExportJob | None = None
    deadline: UtcDatetime

    @model_validator(mode="after")
    def _start_has_job(self) -> JobRequest:
        if self.action == "start" and self.job is None:
            raise ValueError("action=start needs a job")
        return self


class ClipResult(WireModel):
    """What was exported."""

    bytes: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    gaps: list[GapInfo] = Field(default_factory=list, max_length=5000)
    upload_ref: str | None = Field(default=None, max_length=512)


class JobProgress(AgentEnvelope):
    """Progress and final outcome of a job."""

    kind: Literal[Kind.JOB_PROGRESS] = Kind.JOB_PROGRESS
    job_id: RequestId
    state: JobState
    progress: float = Field(default=0, ge=0, le=1)
    message: Text | None = None
    result: ClipResult | None = None
