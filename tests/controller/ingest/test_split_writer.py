"""Ingest with its writer process, through a real Mosquitto: same writes, same rejects, and a
writer that dies is replaced without losing what it had not written."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from controller.core.settings import Settings
from controller.devices.models import Camera
from controller.fleet.models import BoxEvent, StatusTransition
from controller.ingest.pool import owner
from controller.runtime import Controller
from protocol import CameraState, Envelope, Kind, delivery_for, encode, topic, topic_for
from tests.controller.conftest import World
from tests.controller.messages import BoxSpeaker
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient as MqttClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def _rejects(reason: str) -> float:
    return REGISTRY.get_sample_value("schoolcam_ingest_rejects_total", {"reason": reason}) or 0.0


def _wait(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _send(client: MqttClient, message: Envelope) -> None:
    rule = delivery_for(message)
    client.publish(topic_for(message), encode(message), qos=max(rule.qos, 1), retain=rule.retain)


def _count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


@pytest.fixture
def controller(
    settings: Settings, engine: Engine, broker: MosquittoBroker, world: World
) -> Iterator[Controller]:
    running = Controller(
        settings.model_copy(update={"broker_url": broker.url, "ingest_writer_process": True})
    )
    assert running.start(wait_s=10)
    yield running
    running.stop()


@pytest.fixture
def box(broker: MosquittoBroker) -> Iterator[MqttClient]:
    client = MqttClient(broker.port, client_id="mh-0001-a")
    yield client
    client.close()


def test_writer_process_writes_dedupes_and_counts_rejects(
    controller: Controller, box: MqttClient, engine: Engine
) -> None:
    speaker = BoxSpeaker("mh-0001-a", school="mh-0001")
    _send(box, speaker.birth())
    for slot in range(1, 17):
        _send(box, speaker.status(slot))
    _wait(lambda: _count(engine, Camera, col(Camera.state) == "online") == 16)

    duplicates, bad_json = _rejects("duplicate"), _rejects("bad_json")
    event = speaker.event({"type": "camera_online", "slot": 4})
    _send(box, event)
    _send(box, event)  # a QoS 1 redelivery: stored once, counted in the receiving process
    box.publish(topic(Kind.TELEMETRY, "mh-0001-a"), b"{not json")
    _wait(lambda: _rejects("duplicate") == duplicates + 1 and _rejects("bad_json") == bad_json + 1)
    assert _count(engine, BoxEvent) == 1
    assert controller.ingest is not None and controller.ingest.wait_idle(10)
    assert controller.ingest.written == 1 + 16 + 1


def test_dead_writer_is_replaced_and_nothing_is_lost(
    controller: Controller, box: MqttClient, engine: Engine
) -> None:
    assert controller.ingest is not None and controller.ingest.link is not None
    link = controller.ingest.link
    speaker = BoxSpeaker("mh-0001-a", school="mh-0001")
    _send(box, speaker.birth())
    link.kill_writer(owner(topic(Kind.EVENT, "mh-0001-a"), len(link.links)))  # this box's writer
    for n in range(20):
        _send(box, speaker.event({"type": "camera_online", "slot": 1 + n % 16}))
    _wait(lambda: _count(engine, BoxEvent) == 20)
    assert link.alive and not link.failed.is_set()


def test_writers_share_the_boxes_and_keep_each_cameras_order(
    controller: Controller, broker: MosquittoBroker, engine: Engine
) -> None:
    assert controller.ingest is not None and controller.ingest.link is not None
    writers = len(controller.ingest.link.links)
    assert writers == 2  # the default
    box_ids = [f"mh-{n:04d}-a" for n in range(1, 9)]
    assert {owner(topic(Kind.BIRTH, b), writers) for b in box_ids} == {0, 1}
    clients = [MqttClient(broker.port, client_id=b) for b in box_ids]
    try:
        for client, box_id in zip(clients, box_ids, strict=True):
            speaker = BoxSpeaker(box_id, school=box_id[:7])
            _send(client, speaker.birth(slots=2))
            for state in (CameraState.ONLINE, CameraState.OFFLINE, CameraState.STALLED):
                speaker.tick(1)
                _send(client, speaker.status(1, state))
            _send(client, speaker.status(2))
        _wait(lambda: _count(engine, Camera, col(Camera.state) == "stalled") == len(box_ids))
        _wait(lambda: _count(engine, Camera, col(Camera.state) == "online") == len(box_ids))
    finally:
        for client in clients:
            client.close()
    with Session(engine) as session:
        moves = session.exec(
            select(StatusTransition.box_id, StatusTransition.to_state)
            .where(StatusTransition.slot == 1)
            .order_by(StatusTransition.id)  # type: ignore[arg-type]
        ).all()
    for box_id in box_ids:
        assert [m[1] for m in moves if m[0] == box_id] == ["online", "offline", "stalled"]


def test_owner_keeps_a_box_with_one_writer() -> None:
    statuses = {owner(topic(Kind.CAMERA_STATUS, "mh-0001-a", s), 3) for s in range(1, 17)}
    assert statuses == {owner(topic(Kind.BIRTH, "mh-0001-a"), 3)}
    assert owner("not/a/schoolcam/topic/at-all", 1) == 0
    assert owner("garbage", 4) == 0
