"""Clip-export jobs: end to end with the fleet simulator uploading over real HTTP, and the
state machine, cancel, timeout and re-publish rules against a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from controller.core.settings import Settings
from controller.core.types import utc_now
from controller.jobs.models import ClipJob
from controller.jobs.service import apply_progress
from controller.sweeps.runner import SweepRunner
from protocol import ClipResult, JobProgress, JobRequest, JobState, Kind, decode, encode, topic
from protocol import topic_for as topic_of
from tests.controller.commands.live import (
    BOX,
    Centre,
    online_slot,
    running_centre,
    running_fleet,
    wait_until,
)
from tests.controller.conftest import World
from tests.controller.messages import BoxSpeaker
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient as MqttClient


def _window() -> dict[str, str]:
    now = utc_now()
    return {
        "start": (now - timedelta(minutes=3)).isoformat(),
        "end": (now - timedelta(minutes=1)).isoformat(),
    }


@pytest.fixture
def centre(
    settings: Settings, engine: Engine, broker: MosquittoBroker, world: World, tmp_path: Path
) -> Iterator[Centre]:
    with running_centre(settings, broker.url, tmp_path / "media") as running:
        yield running


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_clip_export_end_to_end(
    centre: Centre, broker: MosquittoBroker, world: World, engine: Engine
) -> None:
    with running_fleet(broker.url) as fleet:
        wait_until(lambda: centre.box_online(BOX, world.school_a))
        slot = online_slot(fleet)
        lead = world.headers("school_a")
        created = centre.api.post(
            f"/api/v1/boxes/{BOX}/cameras/{slot}/clips", json=_window(), headers=lead
        )
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["state"] == "queued" and job["download_url"] is None

        def finished() -> bool:
            got = centre.api.get(f"/api/v1/jobs/{job['id']}", headers=lead).json()
            return bool(got["state"] == "succeeded")

        seconds = wait_until(finished, timeout=30)
        print(f"clip export queued -> succeeded: {seconds * 1000:.0f} ms")
    done = centre.api.get(f"/api/v1/jobs/{job['id']}", headers=lead).json()
    assert done["progress"] == 1.0 and done["acknowledged"] and done["finished_at"]
    assert done["result"]["bytes"] == done["clip_bytes"] > 0
    video = centre.api.get(done["download_url"], headers={"Range": "bytes=0-1023"})
    assert video.status_code == 206 and video.content[4:8] == b"ftyp"
    assert video.headers["content-range"] == f"bytes 0-1023/{done['clip_bytes']}"
    with Session(engine) as session:
        row = session.get(ClipJob, job["id"])
        assert row is not None and len(row.upload_token_hash) == 64  # only the hash is kept

    listed = centre.api.get("/api/v1/jobs?state=succeeded", headers=lead).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    for who in ("school_b", "vendor_b"):
        other = world.headers(who)
        assert centre.api.get("/api/v1/jobs", headers=other).json()["total"] == 0
        assert centre.api.get(f"/api/v1/jobs/{job['id']}", headers=other).status_code == 404
        cancel = centre.api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=other)
        assert cancel.status_code == 404
        clip = f"/api/v1/media/clips/{job['id']}"
        assert centre.api.get(clip, headers=other).status_code == 404
        refused = centre.api.post(
            f"/api/v1/boxes/{BOX}/cameras/{slot}/clips", json=_window(), headers=other
        )
        assert refused.status_code == 404
    final = centre.api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=lead)
    assert final.status_code == 409


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_job_for_an_offline_box_waits_for_its_birth_and_can_be_cancelled(
    centre: Centre, broker: MosquittoBroker, world: World
) -> None:
    ops = world.headers("ops")
    box_id = "mh-0004-a"
    assert (
        centre.api.put(
            f"/api/v1/boxes/{box_id}", json={"school_id": world.school_a}, headers=ops
        ).status_code
        == 200
    )
    first = centre.api.post(f"/api/v1/boxes/{box_id}/cameras/1/clips", json=_window(), headers=ops)
    second = centre.api.post(f"/api/v1/boxes/{box_id}/cameras/2/clips", json=_window(), headers=ops)
    assert first.status_code == 201 and "offline" in first.json()["message"]
    bad = centre.api.post(
        f"/api/v1/boxes/{box_id}/cameras/1/clips",
        json={"start": _window()["end"], "end": _window()["start"]},
        headers=ops,
    )
    assert bad.status_code == 422

    cancelled = centre.api.post(f"/api/v1/jobs/{second.json()['id']}/cancel", headers=ops)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"

    box = MqttClient(broker.port, client_id=box_id)
    try:
        box.subscribe(topic(Kind.JOB_REQUEST, box_id))
        birth = BoxSpeaker(box_id, school="mh-0001").birth(slots=2)
        box.publish(topic_of(birth), encode(birth))
        raw = box.next_message(timeout=10)
        request = decode(raw.topic, raw.payload)
        assert isinstance(request, JobRequest) and request.job is not None
        assert request.job_id == first.json()["id"] and request.action == "start"
        assert request.job.upload_url == f"{centre.base_url}/api/v1/media/uploads/{request.job_id}"
        # The token it carries opens the upload (and only the hash was stored).
        head = centre.api.head(
            f"/api/v1/media/uploads/{request.job_id}",
            headers={"Authorization": f"Bearer {request.job.upload_token}"},
        )
        assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"
        # Cancelling a job the box has tells the box.
        centre.api.post(f"/api/v1/jobs/{request.job_id}/cancel", headers=ops)
        raw = box.next_message(timeout=10)
        cancel = decode(raw.topic, raw.payload)
        assert isinstance(cancel, JobRequest) and cancel.action == "cancel"
    finally:
        box.close()


def test_progress_only_moves_forward_and_deadlines_time_out(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    ops = world.headers("ops")
    assert (
        client.put(
            f"/api/v1/boxes/{BOX}", json={"school_id": world.school_a}, headers=ops
        ).status_code
        == 200
    )
    ids = [
        client.post(f"/api/v1/boxes/{BOX}/cameras/1/clips", json=_window(), headers=ops).json()[
            "id"
        ]
        for _ in range(3)
    ]
    speaker = BoxSpeaker(BOX)
    env = speaker._env
    now = utc_now()

    def progress(job_id: str, state: JobState, box_id: str = BOX, **extra: object) -> JobProgress:
        fields = {**env(), "box_id": box_id, "job_id": job_id, "state": state, **extra}
        return JobProgress.model_validate(fields)

    with Session(engine) as session:
        apply_progress(
            session,
            [
                progress(ids[0], JobState.IN_PROGRESS, progress=0.4),
                progress(ids[0], JobState.QUEUED),  # late redelivery: ignored
                progress(ids[1], JobState.SUCCEEDED, result=ClipResult(bytes=10, duration_s=1)),
                progress(ids[2], JobState.FAILED, box_id="mh-0009-a"),  # not its job
            ],
            now,
        )
        session.commit()
    jobs = {j: client.get(f"/api/v1/jobs/{j}", headers=ops).json() for j in ids}
    assert jobs[ids[0]]["state"] == "in_progress" and jobs[ids[0]]["progress"] == 0.4
    # "succeeded" without the clip having arrived here is a lie: the job fails.
    assert jobs[ids[1]]["state"] == "failed" and "incomplete" in jobs[ids[1]]["message"]
    assert jobs[ids[2]]["state"] == "queued" and not jobs[ids[2]]["acknowledged"]

    later = now + timedelta(seconds=settings.clip_job_timeout_s + 1)
    assert SweepRunner(settings, engine, clock=lambda: later).run_once()
    jobs = {j: client.get(f"/api/v1/jobs/{j}", headers=ops).json() for j in ids}
    assert [jobs[j]["state"] for j in ids] == ["timed_out", "failed", "timed_out"]
    with Session(engine) as session:
        apply_progress(session, [progress(ids[0], JobState.SUCCEEDED)], later)
        session.commit()
    assert client.get(f"/api/v1/jobs/{ids[0]}", headers=ops).json()["state"] == "timed_out"
