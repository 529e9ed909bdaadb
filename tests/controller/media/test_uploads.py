"""The resumable clip upload (docs/uploads.md) and ranged downloads, against the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from controller.app import create_app
from controller.core.settings import Settings
from controller.jobs.models import ClipJob
from simulator.fleet.media import clip_mp4
from tests.controller.conftest import SECRET, World
from tests.controller.media.helpers import UPLOAD_TOKEN, make_job

pytestmark = pytest.mark.timeout(60)

URL = "/api/v1/media/uploads/{}"


@pytest.fixture
def media_client(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"media_dir": tmp_path / "media"}), engine=engine)
    with TestClient(app) as client:
        yield client


def _patch(
    client: TestClient, job_id: str, offset: int, total: int, body: bytes, token: str = UPLOAD_TOKEN
) -> httpx.Response:
    return client.patch(
        URL.format(job_id),
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Upload-Offset": str(offset),
            "Upload-Length": str(total),
            "Content-Type": "application/offset+octet-stream",
        },
    )


def test_upload_resumes_refuses_and_then_serves_ranges(
    media_client: TestClient, engine: Engine, world: World, tmp_path: Path
) -> None:
    job_id = make_job(engine, SECRET, world.school_a)
    clip = clip_mp4()
    auth = {"Authorization": f"Bearer {UPLOAD_TOKEN}"}
    url = URL.format(job_id)

    assert media_client.head(URL.format("j-nope"), headers=auth).status_code == 404
    wrong = media_client.head(url, headers={"Authorization": "Bearer not-the-token-000000"})
    assert wrong.status_code == 401
    assert media_client.head(url).status_code == 401
    head = media_client.head(url, headers=auth)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"

    half = len(clip) // 2
    first = _patch(media_client, job_id, 0, len(clip), clip[:half])
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(half)
    # A retry of the same chunk (its 204 was lost): 409 with the server's offset.
    again = _patch(media_client, job_id, 0, len(clip), clip[:half])
    assert again.status_code == 409 and again.headers["Upload-Offset"] == str(half)
    assert _patch(media_client, job_id, half, len(clip), b"x", token="x" * 20).status_code == 401
    assert _patch(media_client, job_id, half, len(clip) + 5, b"x").status_code == 422
    bad_type = media_client.patch(
        url, content=b"x", headers={**auth, "Upload-Offset": str(half), "Upload-Length": "9"}
    )
    assert bad_type.status_code == 415

    # Resume from HEAD's offset, as the client does after a network error.
    resume_at = int(media_client.head(url, headers=auth).headers["Upload-Offset"])
    assert resume_at == half
    last = _patch(media_client, job_id, resume_at, len(clip), clip[resume_at:])
    assert last.status_code == 204
    assert last.headers["Upload-Complete"] == "1"
    assert (tmp_path / "media" / "clips" / f"{job_id}.mp4").read_bytes() == clip
    assert not (tmp_path / "media" / "clips" / f"{job_id}.mp4.part").exists()
    done = media_client.head(url, headers=auth)
    assert (
        done.headers["Upload-Offset"] == str(len(clip)) and done.headers["Upload-Complete"] == "1"
    )

    ops = world.headers("ops")
    clip_url = f"/api/v1/media/clips/{job_id}"
    whole = media_client.get(clip_url, headers=ops)
    assert whole.status_code == 200 and whole.content == clip
    assert (
        whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    )
    part = media_client.get(clip_url, headers={**ops, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == clip[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(clip)}"
    tail = media_client.get(clip_url, headers={**ops, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == clip[-10:]
    rest = media_client.get(clip_url, headers={**ops, "Range": f"bytes={len(clip) - 5}-"})
    assert rest.content == clip[-5:]
    beyond = media_client.get(clip_url, headers={**ops, "Range": f"bytes={len(clip)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(clip)}"

    # The job's own page hands out a signed URL that plays without a token, and only as signed.
    job = media_client.get(f"/api/v1/jobs/{job_id}", headers=ops).json()
    assert job["clip_bytes"] == len(clip) and job["download_url"].startswith(clip_url + "?")
    signed = media_client.get(job["download_url"], headers={"Range": "bytes=0-7"})
    assert signed.status_code == 206 and signed.content[4:8] == b"ftyp"
    forged = job["download_url"].replace("sig=", "sig=0")
    assert media_client.get(forged).status_code == 401
    assert media_client.get(clip_url).status_code == 401
    assert media_client.get(clip_url, headers=world.headers("school_b")).status_code == 404
    assert media_client.get(clip_url, headers=world.headers("vendor_b")).status_code == 404
    assert media_client.get(clip_url, headers=world.headers("school_a")).status_code == 200


def test_an_upload_that_is_not_an_mp4_fails_the_job(
    media_client: TestClient, engine: Engine, world: World
) -> None:
    job_id = make_job(engine, SECRET, world.school_a, job_id="j-liar")
    junk = b"this is no video at all"
    answer = _patch(media_client, job_id, 0, len(junk), junk)
    assert answer.status_code == 422
    with Session(engine) as session:
        job = session.get(ClipJob, job_id)
        assert job is not None and job.state == "failed" and job.media_key is None
    # A failed job takes no more bytes; the box's uploader treats 410 as final.
    gone = media_client.head(
        URL.format(job_id), headers={"Authorization": f"Bearer {UPLOAD_TOKEN}"}
    )
    assert gone.status_code == 410
