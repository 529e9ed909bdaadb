"""Durable clip-export jobs: stored in SQLite, run one at a time, resumed after a restart.

A job goes queued -> in_progress -> succeeded | failed | timed_out | cancelled. The row is the
truth: a restart picks up every job that is not final, keeps an export already finished on
disk and resumes its upload from the server's offset. Every change of state (and progress in
steps) is reported as JobProgress through the outbox.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent.interfaces import CommandFailed, Pipeline
from agent.link.publisher import Publisher
from agent.link.uploader import UploadCancelled, Uploader, UploadFailed
from protocol import (
    ClipExportJob,
    ClipResult,
    CommandErrorCode,
    JobProgress,
    JobRequest,
    JobState,
)

__all__ = ["JobRecord", "JobRunner", "JobStore"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    job TEXT NOT NULL,
    deadline TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT,
    result TEXT,
    created INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    state: JobState
    job: ClipExportJob
    deadline: datetime
    progress: float
    message: str | None
    result: ClipResult | None


class JobStore:
    """The jobs table in the agent's state directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def add(self, job_id: str, job: ClipExportJob, deadline: datetime) -> bool:
        """Store a new queued job; False if the id is already known (a repeat start)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO jobs (job_id, state, job, deadline, created) "
                "VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(created), 0) + 1 FROM jobs))",
                (job_id, JobState.QUEUED.value, job.model_dump_json(), deadline.isoformat()),
            )
            return cursor.rowcount == 1

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, state, job, deadline, progress, message, result FROM jobs "
                "WHERE job_id=?",
                (job_id,),
            ).fetchone()
        return _record(row) if row else None

    def next_open(self) -> JobRecord | None:
        """The oldest job that is not final."""
        with self._lock:
            row = self._db.execute(
                "SELECT job_id, state, job, deadline, progress, message, result FROM jobs "
                "WHERE state IN ('queued', 'in_progress') ORDER BY created LIMIT 1"
            ).fetchone()
        return _record(row) if row else None

    def transition(self, job_id: str, before: JobState, after: JobState) -> bool:
        """Move a job from `before` to `after` only if it is still in `before`.

        A cancel (dispatcher thread) and the start of the same job (job thread) can race;
        whichever moves the row first wins and the other sees False.
        """
        with self._lock, self._db:
            cursor = self._db.execute(
                "UPDATE jobs SET state=? WHERE job_id=? AND state=?",
                (after.value, job_id, before.value),
            )
            return cursor.rowcount == 1

    def update(
        self,
        job_id: str,
        *,
        state: JobState | None = None,
        progress: float | None = None,
        message: str | None = None,
        result: ClipResult | None = None,
    ) -> None:
        with self._lock, self._db:
            if state is not None:
                self._db.execute("UPDATE jobs SET state=? WHERE job_id=?", (state.value, job_id))
            if progress is not None:
                self._db.execute("UPDATE jobs SET progress=? WHERE job_id=?", (progress, job_id))
            if message is not None:
                self._db.execute("UPDATE jobs SET message=? WHERE job_id=?", (message, job_id))
            if result is not None:
                self._db.execute(
                    "UPDATE jobs SET result=? WHERE job_id=?", (result.model_dump_json(), job_id)
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: tuple[object, ...]) -> JobRecord:
    return JobRecord(
        job_id=str(row[0]),
        state=JobState(str(row[1])),
        job=ClipExportJob.model_validate_json(str(row[2])),
        deadline=datetime.fromisoformat(str(row[3])),
        progress=float(row[4]),  # type: ignore[arg-type]
        message=str(row[5]) if row[5] is not None else None,
        result=ClipResult.model_validate_json(str(row[6])) if row[6] is not None else None,
    )


class JobRunner:
    """The role that runs queued jobs one at a time and reports their progress."""

    def __init__(
        self, store: JobStore, publisher: Publisher, exports_dir: Path, uploader: Uploader
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.exports_dir = exports_dir
        self.uploader = uploader
        self._pipeline: Pipeline | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._reported: dict[str, float] = {}

    def start(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self.exports_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="link-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- requests (dispatcher thread) ----------------------------------------------------

    def submit(self, request: JobRequest) -> None:
        if request.action == "cancel":
            self._cancel_job(request.job_id)
            return
        assert request.job is not None  # the model guarantees it for action=start
        if not self.store.add(request.job_id, request.job, request.deadline):
            record = self.store.get(request.job_id)
            if record is not None:  # a repeated start: say where it stands
                self._report(record.job_id, record.state, record.progress, record.message)
            return
        log.info("job %s queued (clip of slot %d)", request.job_id, request.job.slot)
        self._report(request.job_id, JobState.QUEUED, 0.0, None)
        self._wake.set()

    def _cancel_job(self, job_id: str) -> None:
        record = self.store.get(job_id)
        if record is None:
            log.warning("cancel for unknown job %s", job_id)
            return
        if record.state.final:
            self._report(job_id, record.state, record.progress, record.message)
            return
        with self._lock:
            self._cancel.add(job_id)
        if record.state is JobState.QUEUED and self.store.transition(
            job_id, JobState.QUEUED, JobState.CANCELLED
        ):
            self._finish(job_id, JobState.CANCELLED, "cancelled before it started")
        # otherwise it is running (or just started): the job thread sees the flag and stops

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                record = self.store.next_open()
                if record is not None:
                    self._run_job(record)
                    continue
            except Exception:
                log.exception("job loop failed")
                self._stop.wait(1.0)
            self._wake.wait(1.0)
            self._wake.clear()

    def _cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel or self._stop.is_set()

    def _run_job(self, record: JobRecord) -> None:
        job_id, job = record.job_id, record.job
        if self.publisher.clock.now() > record.deadline:
            self._finish(job_id, JobState.TIMED_OUT, "deadline passed")
            return
        if record.state is JobState.QUEUED:
            if not self.store.transition(job_id, JobState.QUEUED, JobState.IN_PROGRESS):
                return  # cancelled in the meantime
            self._report(job_id, JobState.IN_PROGRESS, 0.0, "exporting")
        clip = self.exports_dir / f"{job_id}.mp4"
        try:
            result = record.result
            if result is None or not clip.exists():
                result = self._export(job_id, job, clip)
                self.store.update(job_id, result=result)
            self.uploader.upload(
                clip,
                job.upload_url,
                job.upload_token,
                progress=lambda sent, total: self._progress(job_id, 0.5 + sent / (2 * total or 1)),
                cancelled=lambda: self._cancelled(job_id),
                stop=self._stop,
            )
        except UploadCancelled:
            if self._stop.is_set() and job_id not in self._cancel:
                return  # shutting down: resumed on the next start
            self._finish(job_id, JobState.CANCELLED, "cancelled")
        except CommandFailed as exc:
            self._finish(job_id, JobState.FAILED, f"{exc.code.value}: {exc.message}")
        except UploadFailed as exc:
            self._finish(job_id, JobState.FAILED, f"upload: {exc}")
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self._finish(job_id, JobState.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            final = result.model_copy(update={"upload_ref": job.upload_url[:512]})
            self.store.update(job_id, result=final)
            self._finish(job_id, JobState.SUCCEEDED, None, final)
        finally:
            if self._final(job_id):  # a stopped job keeps its files for the resume
                clip.unlink(missing_ok=True)
                clip.with_suffix(".part").unlink(missing_ok=True)

    def _final(self, job_id: str) -> bool:
        record = self.store.get(job_id)
        return record is not None and record.state.final

    def _export(self, job_id: str, job: ClipExportJob, clip: Path) -> ClipResult:
        if self._pipeline is None:
            raise CommandFailed(CommandErrorCode.BUSY, "the agent is still starting")
        partial = clip.with_suffix(".part")
        result = self._pipeline.export_clip(
            job.slot,
            job.start,
            job.end,
            partial,
            progress=lambda share: self._progress(job_id, 0.5 * share),
            cancelled=lambda: self._cancelled(job_id),
        )
        if self._cancelled(job_id):
            raise UploadCancelled("cancelled during export")
        partial.replace(clip)
        return result

    # -- reporting -----------------------------------------------------------------------

    def _progress(self, job_id: str, share: float) -> None:
        share = max(0.0, min(1.0, share))
        if share - self._reported.get(job_id, -1.0) < 0.1 and share < 1.0:
            return
        self.store.update(job_id, progress=share)
        self._report(job_id, JobState.IN_PROGRESS, share, None)

    def _finish(
        self, job_id: str, state: JobState, message: str | None, result: ClipResult | None = None
    ) -> None:
        progress = 1.0 if state is JobState.SUCCEEDED else None
        self.store.update(job_id, state=state, message=message, progress=progress)
        with self._lock:
            self._cancel.discard(job_id)
        log.info("job %s %s%s", job_id, state.value, f": {message}" if message else "")
        record = self.store.get(job_id)
        self._report(job_id, state, record.progress if record else 0.0, message, result)

    def _report(
        self,
        job_id: str,
        state: JobState,
        progress: float,
        message: str | None,
        result: ClipResult | None = None,
    ) -> None:
        self._reported[job_id] = progress
        self.publisher.durable(
            JobProgress(
                **self.publisher.envelope(),
                job_id=job_id,
                state=state,
                progress=max(0.0, min(1.0, progress)),
                message=message[:500] if message else None,
                result=result,
            )
        )
