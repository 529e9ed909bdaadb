"""Ingest through a real Mosquitto, with a protocol-exact publisher playing the box."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from controller.alarms.models import Alarm
from controller.core.settings import Settings
from controller.devices.models import Box, Camera
from controller.fleet.models import BoxEvent
from controller.runtime import Controller
from protocol import (
    CameraState,
    ConfigIssue,
    ConfigReported,
    Envelope,
    Kind,
    decode,
    delivery_for,
    encode,
    topic,
    topic_for,
)
from tests.controller.conftest import World
from tests.controller.messages import BoxSpeaker
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient as MqttClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _rejects(reason: str) -> float:
    return REGISTRY.get_sample_value("schoolcam_ingest_rejects_total", {"reason": reason}) or 0.0


def _wait(check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until `check()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def controller(
    settings: Settings, engine: Engine, broker: MosquittoBroker, world: World
) -> Iterator[Controller]:
    running = Controller(settings.model_copy(update={"broker_url": broker.url}))
    assert running.start(wait_s=10)
    yield running
    running.stop()


@pytest.fixture
def box(broker: MosquittoBroker) -> Iterator[MqttClient]:
    client = MqttClient(broker.port, client_id="mh-0001-a")
    yield client
    client.close()


def _send(client: MqttClient, message: Envelope) -> None:
    rule = delivery_for(message)
    client.publish(topic_for(message), encode(message), qos=max(rule.qos, 1), retain=rule.retain)


def test_box_messages_become_state_alarms_and_history(
    controller: Controller, box: MqttClient, engine: Engine, world: World
) -> None:
    speaker = BoxSpeaker("mh-0001-a", school="mh-0001", session=200)
    _send(box, speaker.birth())
    for slot in range(1, 17):
        _send(box, speaker.status(slot))

    def online_cameras() -> int:
        with Session(engine) as s:
            stmt = select(func.count()).select_from(Camera).where(col(Camera.state) == "online")
            return int(s.exec(stmt).one())

    _wait(lambda: online_cameras() == 16)

    # A camera pulled at the edge: the agent's status reaches an active alarm at once.
    sent = time.monotonic()
    _send(box, speaker.status(3, CameraState.STALLED))

    def alarm_active() -> bool:
        with Session(engine) as s:
            return (
                s.exec(
                    select(Alarm).where(Alarm.type == "camera_offline", col(Alarm.active))
                ).first()
                is not None
            )

    _wait(alarm_active)
    latency = time.monotonic() - sent
    assert latency < 15, latency
    print(f"camera offline -> active alarm: {latency * 1000:.0f} ms")

    # The same event twice (QoS 1 redelivery): stored once, the repeat counted.
    duplicates = _rejects("duplicate")
    gap = speaker.event(
        {
            "type": "recording_gap",
            "slot": 2,
            "start": speaker.now.isoformat(),
            "end": speaker.now.isoformat(),
            "reason": "disk busy",
        }
    )
    _send(box, gap)
    _send(box, gap)
    _wait(lambda: _rejects("duplicate") == duplicates + 1)

    # Replayed history arrives late and out of order: all of it is kept.
    late = [speaker.event({"type": "camera_online", "slot": 5}, historical=True) for _ in range(3)]
    for event in reversed(late):
        _send(box, event)

    def events() -> int:
        with Session(engine) as s:
            return int(s.exec(select(func.count()).select_from(BoxEvent)).one())

    _wait(lambda: events() == 4)

    # A payload claiming another box, and garbage: refused, counted, ingest goes on.
    mismatch, bad_json = _rejects("box_mismatch"), _rejects("bad_json")
    other = BoxSpeaker("mh-0002-a").status(1)
    box.publish(topic(Kind.CAMERA_STATUS, "mh-0001-a", 1), encode(other))
    box.publish(topic(Kind.TELEMETRY, "mh-0001-a"), b"{not json")
    _wait(lambda: _rejects("box_mismatch") == mismatch + 1 and _rejects("bad_json") == bad_json + 1)

    # A Last Will from an older session arriving after the newer birth is dropped.
    stale = _rejects("stale_will")
    _send(box, speaker.state("offline", session=199, reason="connection_lost"))
    _wait(lambda: _rejects("stale_will") == stale + 1)
    with Session(engine) as s:
        found = s.get(Box, "mh-0001-a")
        assert found is not None and found.online and found.school_id == world.school_a

    # The current will does take the box offline.
    _send(box, speaker.state("offline", reason="connection_lost"))

    def box_offline() -> bool:
        with Session(engine) as s:
            found = s.get(Box, "mh-0001-a")
            return found is not None and not found.online

    _wait(box_offline)


def test_config_is_published_retained_and_reports_are_visible(
    controller: Controller, box: MqttClient, broker: MosquittoBroker, world: World
) -> None:
    speaker = BoxSpeaker("mh-0001-a", school="mh-0001")
    _send(box, speaker.birth(slots=1))
    api = TestClient(controller.app)
    ops = world.headers("ops")
    _wait(lambda: api.get("/api/v1/boxes/mh-0001-a", headers=ops).status_code == 200)
    defaults = api.put(
        "/api/v1/config/defaults/primary",
        json={"document": {"recording": {"retention_days": 45}}},
        headers=ops,
    )
    assert defaults.status_code == 200, defaults.text
    doc = {"cameras": [{"slot": 1, "name": "Gate", "url": "rtsp://10.0.0.5/main"}]}
    put = api.put("/api/v1/boxes/mh-0001-a/config", json={"document": doc}, headers=ops)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1
    assert put.json()["merged"]["recording"]["retention_days"] == 45
    bad = api.put(
        "/api/v1/boxes/mh-0001-a/config",
        json={"document": {"recording": {"retention_days": 0}}},
        headers=ops,
    )
    assert bad.status_code == 422 and "recording.retention_days" in bad.text

    # A box connecting later still gets it: it is retained.
    box.subscribe(topic(Kind.CONFIG_DESIRED, "mh-0001-a"))
    received = box.next_message(timeout=10)
    desired = decode(received.topic, received.payload)
    assert received.retain and desired.version == 1  # type: ignore[union-attr]
    assert desired.config.recording.retention_days == 45  # type: ignore[union-attr]

    report = ConfigReported(
        box_id="mh-0001-a",
        boot_id="boot1",
        seq=99,
        applied_version=0,
        desired_version=1,
        status="rejected",
        errors=[ConfigIssue(path="cameras.0.url", message="unreachable")],
    )
    _send(box, report)

    def rejected() -> bool:
        body = api.get("/api/v1/boxes/mh-0001-a/config", headers=ops).json()
        return bool(body.get("reported_status") == "rejected")

    _wait(rejected)
    body = api.get("/api/v1/boxes/mh-0001-a/config", headers=ops).json()
    assert body["reported_errors"] == [{"path": "cameras.0.url", "message": "unreachable"}]
