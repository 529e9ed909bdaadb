"""Commands through a real Mosquitto to the fleet simulator playing the box, and back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controller.core.settings import Settings
from protocol import CommandRequest, Kind, decode, encode, topic, topic_for
from simulator.fleet import FleetSimulator
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def centre(
    settings: Settings, engine: object, broker: MosquittoBroker, world: World, tmp_path: Path
) -> Iterator[Centre]:
    with running_centre(settings, broker.url, tmp_path / "media") as running:
        yield running


@pytest.fixture
def fleet(broker: MosquittoBroker, centre: Centre, world: World) -> Iterator[FleetSimulator]:
    with running_fleet(broker.url) as running:
        wait_until(lambda: centre.box_online(BOX, world.school_a))
        yield running


def _command(centre: Centre, who: str, world: World, slot: int, **body: object) -> httpx.Response:
    return centre.api.post(
        f"/api/v1/boxes/{BOX}/cameras/{slot}/commands", json=body, headers=world.headers(who)
    )


def test_snapshot_ptz_probe_and_errors_round_trip(
    centre: Centre, fleet: FleetSimulator, world: World, tmp_path: Path
) -> None:
    slot = online_slot(fleet)
    started = time.monotonic()
    snap = _command(centre, "ops", world, slot, name="snapshot")
    round_trip_ms = (time.monotonic() - started) * 1000
    assert snap.status_code == 200, snap.text
    body = snap.json()
    print(f"snapshot round trip through broker and box: {round_trip_ms:.0f} ms")
    assert body["result"]["type"] == "snapshot" and "jpeg_base64" not in body["result"]
    meta = body["snapshot"]
    assert meta["slot"] == slot and meta["width"] == 640 and meta["school_id"] == world.school_a
    jpeg = centre.api.get(meta["download_url"])
    assert jpeg.status_code == 200 and jpeg.content[:3] == b"\xff\xd8\xff"
    assert jpeg.headers["content-type"] == "image/jpeg" and len(jpeg.content) == meta["bytes"]
    assert list((tmp_path / "media" / "snapshots" / BOX / str(slot)).glob("*.jpg"))

    # The school's own safety lead may take one too; the slot keeps them, newest first.
    assert _command(centre, "school_a", world, slot, name="snapshot").status_code == 200
    listed = centre.api.get(
        f"/api/v1/boxes/{BOX}/cameras/{slot}/snapshots", headers=world.headers("school_a")
    ).json()
    assert listed["total"] == 2 and listed["items"][1]["id"] == meta["id"]

    ptz = _command(centre, "ops", world, slot, name="ptz_move", pan=0.5, duration_s=1)
    assert ptz.status_code == 200 and ptz.json()["result"] == {"type": "ack"}
    probe = _command(centre, "tech", world, slot, name="probe")
    assert probe.json()["result"]["reachable"] is True

    unknown = _command(centre, "ops", world, 20, name="snapshot")
    assert unknown.status_code == 404 and "unknown_slot" in unknown.text
    bad = _command(centre, "ops", world, slot, name="ptz_move", pan=5)
    assert bad.status_code == 422 and "pan" in bad.text
    extra = _command(centre, "ops", world, slot, name="probe", zoom=1)
    assert extra.status_code == 422

    # Another school's lead and another vendor cannot reach this camera at all.
    for who in ("school_b", "vendor_b"):
        assert _command(centre, who, world, slot, name="snapshot").status_code == 404
        other = centre.api.get(
            f"/api/v1/boxes/{BOX}/cameras/{slot}/snapshots", headers=world.headers(who)
        )
        assert other.status_code == 404
        got = centre.api.get(f"/api/v1/media/snapshots/{meta['id']}", headers=world.headers(who))
        assert got.status_code == 404


def test_offline_box_fails_fast_and_a_silent_box_times_out(
    centre: Centre, broker: MosquittoBroker, world: World
) -> None:
    ops = world.headers("ops")
    # Known but offline: a clear 503 at once, nothing published.
    assert (
        centre.api.put(
            "/api/v1/boxes/mh-0002-a", json={"school_id": world.school_b}, headers=ops
        ).status_code
        == 200
    )
    started = time.monotonic()
    offline = centre.api.post(
        "/api/v1/boxes/mh-0002-a/cameras/1/commands", json={"name": "snapshot"}, headers=ops
    )
    assert offline.status_code == 503 and "offline" in offline.json()["detail"]
    assert time.monotonic() - started < 1.0

    # Online but never answers: a plain client that is born and then stays silent.
    silent = MqttClient(broker.port, client_id="mh-0003-a")
    try:
        silent.subscribe(topic(Kind.COMMAND_REQUEST, "mh-0003-a"))
        speaker = BoxSpeaker("mh-0003-a", school="mh-0001")
        birth = speaker.birth(slots=2)
        silent.publish(topic_for(birth), encode(birth))
        wait_until(lambda: centre.box_online("mh-0003-a"))
        started = time.monotonic()
        late = centre.api.post(
            "/api/v1/boxes/mh-0003-a/cameras/1/commands",
            json={"name": "probe", "timeout_s": 1},
            headers=ops,
        )
        waited = time.monotonic() - started
        assert late.status_code == 504 and "did not answer probe" in late.json()["detail"]
        assert 1.0 <= waited < 3.0, waited
        raw = silent.next_message(timeout=5)
        sent = decode(raw.topic, raw.payload)
        assert isinstance(sent, CommandRequest) and sent.command.name == "probe"
        assert sent.reply_to == topic(Kind.COMMAND_REPLY, "mh-0003-a")
        assert sent.request_id in late.json()["detail"]
    finally:
        silent.close()
