"""MQTT 3.1.1: the embedded amqtt broker speaks nothing else.

An agent configured for MQTT 5 must find that out by itself (amqtt neither answers nor refuses
an MQTT 5 CONNECT; the link gives up on it after `CONNACK_TIMEOUT_S` and tries 3.1.1) and then
do everything it does on Mosquitto: birth, retained state, statuses, events through the
outbox, commands, and a Last Will when it dies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.link import LinkService
from agent.link.client import CONNACK_TIMEOUT_S
from protocol import (
    CameraConnectivityEvent,
    CommandRequest,
    Kind,
    ProbeCommand,
    topic,
)
from simulator.broker import EmbeddedBroker
from tests.agent.link.centre import Centre, dedupe
from tests.agent.link.children import kill, read_until, start_agent
from tests.agent.link.conftest import BOX, agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline


@pytest.fixture
def amqtt_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def centre311(amqtt_broker: EmbeddedBroker) -> Iterator[Centre]:
    client = Centre(amqtt_broker.port, v311=True)
    yield client
    client.close()


def _probe(request_id: str) -> CommandRequest:
    return CommandRequest(
        box_id=BOX,
        request_id=request_id,
        reply_to=topic(Kind.COMMAND_REPLY, BOX),
        deadline=datetime.now(UTC) + timedelta(seconds=30),
        command=ProbeCommand(slot=1),
    )


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.timeout(60)
def test_mqtt5_agent_falls_back_and_works_then_dies_with_a_will(
    tmp_path: Path, amqtt_broker: EmbeddedBroker, centre311: Centre
) -> None:
    started = time.monotonic()
    child = start_agent(tmp_path, amqtt_broker.url, 0, 5, broker={"protocol": "5"})
    try:
        assert read_until(child, "link up") == "link up 3.1.1"
        fell_back_in = time.monotonic() - started
        birth = centre311.wait_for(lambda m: m.kind == Kind.BIRTH)[0]
        online = centre311.wait_for(lambda m: m.kind == Kind.STATE)[0]
        assert online.state == "online" and online.session == birth.session
        statuses = centre311.wait_for(lambda m: m.kind == Kind.CAMERA_STATUS, count=2)
        assert {s.slot for s in statuses} == {1, 2}
        # the five events were written while the link was still down: replayed, in order
        events = dedupe(centre311.wait_for(lambda m: m.kind == Kind.EVENT, count=5))
        assert [e.body.segments for e in events] == [0, 1, 2, 3, 4]
        assert all(e.historical for e in events)
        centre311.send(_probe("probe-311"))
        reply = centre311.wait_for(
            lambda m: m.kind == Kind.COMMAND_REPLY and m.request_id == "probe-311"
        )[0]
        assert reply.ok and reply.result.reachable
    finally:
        kill(child)
    will = centre311.wait_for(lambda m: m.kind == Kind.STATE and m.state == "offline")[0]
    assert will.reason == "connection_lost" and will.session == birth.session
    # retained: a subscriber arriving later is told the box is offline
    late = Centre(amqtt_broker.port, box_id=BOX, v311=True)
    try:
        state = late.wait_for(lambda m: m.kind == Kind.STATE)[0]
        assert state.state == "offline" and state.session == birth.session
    finally:
        late.close()
    assert fell_back_in < CONNACK_TIMEOUT_S + 5


@pytest.mark.timeout(30)
def test_mqtt311_configured_works_directly(
    tmp_path: Path, amqtt_broker: EmbeddedBroker, centre311: Centre
) -> None:
    url = amqtt_broker.url
    config = agent_config(
        tmp_path, url, broker={"url": url, "protocol": "3.1.1", "reconnect_max_s": 1}
    )
    service = LinkService(config)
    service.start(ScriptedPipeline())
    try:
        wait_until(lambda: service.metrics()["link_up"], timeout=3, what="a direct connect")
        assert service.metrics()["link_protocol"] == "3.1.1"
        birth = centre311.wait_for(lambda m: m.kind == Kind.BIRTH)[0]
        service.sink.event(CameraConnectivityEvent(type="camera_offline", slot=2))
        event = centre311.wait_for(lambda m: m.kind == Kind.EVENT)[0]
        assert event.body.slot == 2 and event.historical is False
        wait_until(lambda: service.metrics()["outbox_backlog"] == 0, what="the PUBACK")
        centre311.send(_probe("probe-direct"))
        centre311.wait_for(
            lambda m: m.kind == Kind.COMMAND_REPLY and m.request_id == "probe-direct"
        )
    finally:
        service.stop()
    offline = centre311.wait_for(lambda m: m.kind == Kind.STATE and m.state == "offline")[0]
    assert offline.reason == "shutdown" and offline.session == birth.session
