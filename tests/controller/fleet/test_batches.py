"""One writer batch holding many moves of the same camera stays exact, on both databases.

The writer hands each kind's messages of a batch to its handler at once; these tests put whole
stories into a single batch and check history, alarms and live state come out as if the
messages had been written one by one.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from controller.core.settings import Settings
from controller.devices.models import Camera
from protocol import CameraState
from tests.controller.conftest import World
from tests.controller.messages import BoxSpeaker
from tests.controller.seed import ingest_messages


def _alarms(client: TestClient, world: World, **params: object) -> list[dict[str, object]]:
    answer = client.get("/api/v1/alarms", params=params, headers=world.headers("ops"))
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_every_change_in_one_batch_writes_history_and_moves_alarms(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=2), box.status(1), box.status(2)])
    story = []
    for state in (CameraState.OFFLINE, CameraState.ONLINE, CameraState.STALLED):
        box.tick(10)
        story.append(box.status(1, state))
    ingest_messages(engine, settings, story)

    ops = world.headers("ops")
    history = client.get("/api/v1/boxes/mh-0001-a/history", params={"slot": 1}, headers=ops).json()[
        "items"
    ]
    assert [(h["from_state"], h["to_state"]) for h in history] == [
        ("unknown", "online"),
        ("online", "offline"),
        ("offline", "online"),
        ("online", "stalled"),
    ]
    offline = _alarms(client, world, type="camera_offline")
    assert sorted(bool(a["active"]) for a in offline) == [False, True]  # raised, cleared, raised
    camera = client.get("/api/v1/boxes/mh-0001-a/cameras/1", headers=ops).json()
    assert camera["state"] == "stalled"


def test_heartbeats_touch_only_the_clock_and_old_statuses_lose(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=1), box.status(1)])
    late = box.status(1, CameraState.OFFLINE)  # sent now, delivered after newer heartbeats
    box.tick(30)
    beat = box.status(1)
    ingest_messages(engine, settings, [beat])
    ingest_messages(engine, settings, [late])
    with Session(engine) as session:
        camera = session.exec(select(Camera).where(Camera.box_id == "mh-0001-a")).one()
    assert camera.state == "online"
    assert camera.status_at == beat.sent_at and camera.last_packet_at == beat.last_packet_at
    history = client.get(
        "/api/v1/boxes/mh-0001-a/history", params={"slot": 1}, headers=world.headers("ops")
    ).json()
    assert history["total"] == 1
    assert _alarms(client, world, type="camera_offline") == []


def test_events_and_statuses_of_one_batch_agree_whatever_their_order(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=2), box.status(1), box.status(2)])
    went = box.now
    box.tick(1)
    batch = [
        box.event({"type": "camera_offline", "slot": 1, "reason": "no route"}),
        box.status(1, CameraState.OFFLINE),
    ]
    box.tick(120)
    batch += [
        box.event({"type": "camera_online", "slot": 1}),
        box.event(
            {
                "type": "recording_gap",
                "slot": 1,
                "start": went.isoformat(),
                "end": box.now.isoformat(),
                "reason": "camera offline",
            }
        ),
        box.status(1),
    ]
    ingest_messages(engine, settings, batch)
    assert _alarms(client, world, active=True) == []
    gaps = _alarms(client, world, type="recording_gap")
    assert len(gaps) == 1 and not gaps[0]["active"]  # history: raised and cleared
    assert len(_alarms(client, world, type="camera_offline")) == 1


def test_a_gap_reported_while_the_camera_connects_clears_once_it_records(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    """The box's own order: recording resumes on the first packet (status `connecting`,
    recording), the gap event follows, and `online` comes a second later. Each arrives in
    its own batch, as they do on the wire."""
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=1), box.status(1)])
    went = box.now
    box.tick(1)
    ingest_messages(
        engine,
        settings,
        [
            box.event({"type": "camera_offline", "slot": 1, "reason": "no route"}),
            box.status(1, CameraState.OFFLINE),
        ],
    )
    box.tick(120)
    back = box.now
    ingest_messages(engine, settings, [box.status(1, CameraState.CONNECTING, recording=True)])
    gap = {"type": "recording_gap", "slot": 1, "start": went.isoformat(), "end": back.isoformat()}
    ingest_messages(engine, settings, [box.event({**gap, "reason": "camera offline"})])
    box.tick(1)
    ingest_messages(
        engine,
        settings,
        [box.event({"type": "camera_online", "slot": 1}), box.status(1)],
    )
    gaps = _alarms(client, world, type="recording_gap")
    assert len(gaps) == 1 and not gaps[0]["active"]
    assert _alarms(client, world, active=True) == []


def test_a_gap_alarm_stays_while_the_camera_does_not_record(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=1), box.status(1)])
    went = box.now
    box.tick(120)
    gap = {
        "type": "recording_gap",
        "slot": 1,
        "start": went.isoformat(),
        "end": box.now.isoformat(),
    }
    box.tick(1)
    ingest_messages(
        engine,
        settings,
        [box.status(1, recording=False), box.event({**gap, "reason": "disk full"})],
    )
    box.tick(10)
    ingest_messages(engine, settings, [box.status(1, recording=False)])
    gaps = _alarms(client, world, type="recording_gap", active=True)
    assert len(gaps) == 1
    box.tick(10)
    ingest_messages(engine, settings, [box.status(1)])
    assert _alarms(client, world, type="recording_gap", active=True) == []


def test_first_contact_of_many_boxes_in_one_batch(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    speakers = [BoxSpeaker(f"mh-{n:04d}-a", school="mh-0001") for n in range(1, 31)]
    batch = []
    for speaker in speakers:
        batch += [speaker.birth(firmware="V5.4.0 build 160530"), speaker.state("online")]
        batch += [speaker.status(s) for s in range(1, 17)]
    # A box that restarts within the batch: its old will arrives after the new birth.
    again = BoxSpeaker("mh-0001-a", boot_id="boot2", session=101, school="mh-0001")
    batch += [again.birth(), speakers[0].state("offline", reason="connection_lost")]
    ingest_messages(engine, settings, batch)

    summary = client.get("/api/v1/fleet/summary", headers=world.headers("ops")).json()
    assert summary["boxes_online"] == 30 and summary["cameras_online"] == 480
    outdated = _alarms(client, world, type="firmware_outdated", active=True, limit=1000)
    assert len(outdated) == 29 * 16  # the restarted box came back with V5.7.3
    down = client.get(
        "/api/v1/cameras", params={"online": False}, headers=world.headers("ops")
    ).json()
    assert down["total"] == 0


def test_online_false_lists_cameras_of_offline_boxes(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    a = BoxSpeaker("mh-0001-a", school="mh-0001")
    b = BoxSpeaker("mh-0002-a", school="mh-0002")
    ingest_messages(
        engine,
        settings,
        [
            a.birth(slots=2),
            b.birth(slots=2),
            a.status(1),
            a.status(2, CameraState.ERROR),
            b.status(1),
            b.status(2),
        ],
    )
    b.tick(timedelta(minutes=1).total_seconds())
    ingest_messages(engine, settings, [b.state("offline", reason="connection_lost")])
    down = client.get(
        "/api/v1/cameras", params={"online": False}, headers=world.headers("ops")
    ).json()
    assert [(c["box_id"], c["slot"]) for c in down["items"]] == [
        ("mh-0001-a", 2),
        ("mh-0002-a", 1),
        ("mh-0002-a", 2),
    ]
    assert down["total"] == 3
