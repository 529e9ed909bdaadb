"""Clip-export jobs across an agent restart, and cancelled mid-upload, mid-export and queued.

The upload server is real (HTTP on 127.0.0.1) and slowed down on demand, so the restart and
the cancel land in the middle of an upload.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.link import LinkService
from agent.link.jobs import JobStore
from agent.link.uploader import Uploader
from protocol import ClipExportJob, JobRequest, JobState, Kind
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX, agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline
from tests.agent.link.servers import UploadServer
from tests.harness.mosquitto import MosquittoBroker

pytestmark = pytest.mark.timeout(60)
TOKEN = "job-token-0123456789abcdef"
CHUNK = 64 * 1024


@pytest.fixture
def uploads() -> Iterator[UploadServer]:
    server = UploadServer(TOKEN)
    server.patch_delay_s = 0.1  # a slow uplink: about 0.6 MB/s in 64 KiB chunks
    yield server
    server.gate.set()
    server.close()


def _service(tmp_path: Path, broker: MosquittoBroker) -> LinkService:
    uploader = Uploader(chunk_bytes=CHUNK, backoff_base_s=0.05)
    return LinkService(agent_config(tmp_path, broker.url), uploader=uploader)


def _start(job_id: str, uploads: UploadServer) -> JobRequest:
    t0 = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)
    job = ClipExportJob(
        slot=1,
        start=t0,
        end=t0 + timedelta(minutes=2),
        upload_url=uploads.url(job_id),
        upload_token=TOKEN,
    )
    deadline = datetime.now(UTC) + timedelta(minutes=5)
    return JobRequest(box_id=BOX, job_id=job_id, job=job, deadline=deadline)


def _cancel(job_id: str) -> JobRequest:
    deadline = datetime.now(UTC) + timedelta(minutes=5)
    return JobRequest(box_id=BOX, job_id=job_id, action="cancel", deadline=deadline)


def _progress(centre: Centre, job_id: str) -> list[object]:
    return [m for m in centre.of(Kind.JOB_PROGRESS) if m.job_id == job_id]


def _final(centre: Centre, job_id: str, state: str) -> object:
    return centre.wait_for(
        lambda m: m.kind == Kind.JOB_PROGRESS and m.job_id == job_id and m.state == state
    )[0]


def test_job_resumes_from_the_servers_offset_after_a_restart(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre, uploads: UploadServer
) -> None:
    first_pipeline = ScriptedPipeline()
    total = len(first_pipeline.clip_bytes)  # about 1 MB: 16 chunks
    first = _service(tmp_path, broker)
    first.start(first_pipeline)
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    centre.send(_start("j-resume", uploads))
    uploads.wait_stored("j-resume", 3 * CHUNK)
    began = time.monotonic()
    first.stop()
    assert time.monotonic() - began < 5
    at_stop = uploads.stored("j-resume")
    patches_at_stop = len(uploads.patch_offsets)
    assert 0 < at_stop < total
    store = JobStore(tmp_path / "box" / "state" / "jobs.sqlite3")
    stopped = store.get("j-resume")
    store.close()
    assert stopped is not None and stopped.state is JobState.IN_PROGRESS
    assert (tmp_path / "box" / "state" / "exports" / "j-resume.mp4").exists()
    time.sleep(0.3)
    assert len(uploads.patch_offsets) == patches_at_stop, "the stopped agent kept uploading"

    second_pipeline = ScriptedPipeline()
    second = _service(tmp_path, broker)
    second.start(second_pipeline)
    try:
        done = _final(centre, "j-resume", "succeeded")
        assert done.boot_id == second.session.boot_id and done.progress == 1.0  # type: ignore[attr-defined]
        assert done.result.bytes == total  # type: ignore[attr-defined]
    finally:
        second.stop()
    assert bytes(uploads.data["j-resume"]) == first_pipeline.clip_bytes
    assert uploads.patch_offsets[patches_at_stop] == at_stop, "resumed from 0, not the offset"
    assert second_pipeline.export_calls == 0, "the finished export on disk was not reused"
    resumed = [
        m
        for m in _progress(centre, "j-resume")
        if m.boot_id == second.session.boot_id and m.state == "in_progress"  # type: ignore[attr-defined]
    ]
    assert resumed, "no progress reported after the restart"
    assert not (tmp_path / "box" / "state" / "exports" / "j-resume.mp4").exists()


def test_cancel_mid_upload(
    link: LinkService, centre: Centre, uploads: UploadServer, tmp_path: Path
) -> None:
    link.jobs.uploader = Uploader(chunk_bytes=CHUNK, backoff_base_s=0.05)
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    centre.send(_start("j-cancel", uploads))
    uploads.wait_stored("j-cancel", 2 * CHUNK)
    centre.send(_cancel("j-cancel"))
    cancelled = _final(centre, "j-cancel", "cancelled")
    assert cancelled.message == "cancelled"  # type: ignore[attr-defined]
    patches = len(uploads.patch_offsets)
    time.sleep(0.5)
    assert len(uploads.patch_offsets) == patches, "uploading went on after the cancel"
    assert "j-cancel" not in uploads.complete
    states = [m.state for m in _progress(centre, "j-cancel")]  # type: ignore[attr-defined]
    assert states[-1] == "cancelled" and states.count("cancelled") == 1
    exports = tmp_path / "box" / "state" / "exports"
    assert list(exports.iterdir()) == [], "the partial clip was left on the box"

    centre.send(_cancel("j-cancel"))  # a repeated cancel restates the outcome
    centre.wait_for(
        lambda m: m.kind == Kind.JOB_PROGRESS and m.job_id == "j-cancel" and m.state == "cancelled",
        count=2,
    )


def test_cancel_during_export_and_while_queued(
    link: LinkService,
    centre: Centre,
    uploads: UploadServer,
    pipeline: ScriptedPipeline,
    tmp_path: Path,
) -> None:
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    pipeline.export_hold.clear()  # the export of the first job takes "long"
    centre.send(_start("j-export", uploads))
    centre.wait_for(
        lambda m: (
            m.kind == Kind.JOB_PROGRESS and m.job_id == "j-export" and m.state == "in_progress"
        )
    )
    centre.send(_start("j-queued", uploads))  # jobs run one at a time: this one waits
    _final(centre, "j-queued", "queued")
    centre.send(_cancel("j-queued"))
    queued = _final(centre, "j-queued", "cancelled")
    assert queued.message == "cancelled before it started"  # type: ignore[attr-defined]

    exports = tmp_path / "box" / "state" / "exports"
    wait_until(lambda: (exports / "j-export.part").exists(), what="the export to begin")
    centre.send(_cancel("j-export"))
    _final(centre, "j-export", "cancelled")
    wait_until(lambda: not list(exports.iterdir()), what="the partial export to be removed")
    time.sleep(0.3)
    assert pipeline.export_calls == 1, "the cancelled queued job ran anyway"
    assert uploads.patch_offsets == [], "a cancelled export was uploaded"
    for job_id in ("j-export", "j-queued"):
        assert [m.state for m in _progress(centre, job_id)][-1] == "cancelled"  # type: ignore[attr-defined]
