"""Resumable upload against a real HTTP server, and clip-export jobs end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.link import LinkService
from agent.link.uploader import Uploader, UploadFailed
from protocol import ClipExportJob, JobRequest, Kind
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX
from tests.agent.link.doubles import ScriptedPipeline
from tests.agent.link.servers import UploadServer

pytestmark = pytest.mark.timeout(60)
TOKEN = "job-token-0123456789abcdef"


@pytest.fixture
def uploads() -> Iterator[UploadServer]:
    server = UploadServer(TOKEN)
    yield server
    server.close()


def _clip(tmp_path: Path, size: int = 300_000) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return path


def test_upload_resumes_after_failures_and_partial_chunks(
    tmp_path: Path, uploads: UploadServer
) -> None:
    clip = _clip(tmp_path)
    uploads.fail_patches, uploads.cut_after = 2, 1000  # two 500s, each after a partial write
    fast = Uploader(chunk_bytes=64 * 1024, backoff_base_s=0.01)
    seen: list[int] = []
    fast.upload(clip, uploads.url("j1"), TOKEN, progress=lambda sent, _t: seen.append(sent))
    assert bytes(uploads.data["j1"]) == clip.read_bytes() and "j1" in uploads.complete
    assert seen[-1] == clip.stat().st_size and uploads.requests.count("HEAD") == 3


def test_wrong_token_is_final(tmp_path: Path, uploads: UploadServer) -> None:
    with pytest.raises(UploadFailed, match="401"):
        Uploader().upload(_clip(tmp_path), uploads.url("j2"), "x" * 20)


def test_clip_export_job_round_trip(
    link: LinkService, centre: Centre, uploads: UploadServer, pipeline: ScriptedPipeline
) -> None:
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    t0 = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)
    job = ClipExportJob(
        slot=1,
        start=t0,
        end=t0 + timedelta(minutes=2),
        upload_url=uploads.url("j3"),
        upload_token=TOKEN,
    )
    deadline = datetime.now(UTC) + timedelta(minutes=5)
    request = JobRequest(box_id=BOX, job_id="j3", job=job, deadline=deadline)
    centre.send(request)
    done = centre.wait_for(lambda m: m.kind == Kind.JOB_PROGRESS and m.state == "succeeded")[0]
    assert done.result.bytes == len(pipeline.clip_bytes) and done.progress == 1.0
    assert bytes(uploads.data["j3"]) == pipeline.clip_bytes
    states = [m.state for m in centre.of(Kind.JOB_PROGRESS)]
    assert states[0] == "queued" and "in_progress" in states
    centre.send(request)  # a repeated start is a no-op that restates the outcome
    centre.wait_for(lambda m: m.kind == Kind.JOB_PROGRESS and m.state == "succeeded", count=2)
    assert pipeline.export_calls == 1

    expired = JobRequest(
        box_id=BOX, job_id="j4", job=job, deadline=datetime.now(UTC) - timedelta(seconds=1)
    )
    centre.send(expired)
    centre.wait_for(lambda m: m.kind == Kind.JOB_PROGRESS and m.state == "timed_out")
