"""Birth, retained online state, status on connect, and the explicit offline on shutdown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.link import LinkService
from protocol import CameraConnectivityEvent, CameraState, Kind
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX, agent_config
from tests.agent.link.doubles import ScriptedPipeline
from tests.harness.mosquitto import MosquittoBroker

pytestmark = pytest.mark.timeout(60)


def test_birth_online_status_then_offline_on_clean_stop(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    pipeline = ScriptedPipeline()
    service = LinkService(agent_config(tmp_path, broker.url))
    service.start(pipeline)
    birth = centre.wait_for(lambda m: m.kind == Kind.BIRTH)[0]
    assert birth.box_id == BOX and birth.school == "mh-0001"
    assert [c.slot for c in birth.cameras] == [1, 2]
    online = centre.wait_for(lambda m: m.kind == Kind.STATE)[0]
    assert online.state == "online" and online.session == birth.session
    statuses = centre.wait_for(lambda m: m.kind == Kind.CAMERA_STATUS, count=2)
    assert {s.slot for s in statuses} == {1, 2}
    assert service.metrics()["link_up"] is True

    # an unplugged camera: its status and an event, in that order of seq
    pipeline.set_state(2, CameraState.OFFLINE, error="no packets for 10 s")
    service.sink.camera_changed(2)
    service.sink.event(CameraConnectivityEvent(type="camera_offline", slot=2, reason="eof"))
    centre.wait_for(lambda m: m.kind == Kind.CAMERA_STATUS and m.state == CameraState.OFFLINE)
    event = centre.wait_for(lambda m: m.kind == Kind.EVENT)[0]
    assert event.body.type == "camera_offline" and event.historical is False

    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 5
    offline = centre.wait_for(lambda m: m.kind == Kind.STATE and m.state == "offline")[0]
    assert offline.reason == "shutdown" and offline.session == birth.session


def test_session_grows_with_every_connect(tmp_path: Path, broker: MosquittoBroker) -> None:
    sessions = []
    for _ in range(2):
        service = LinkService(agent_config(tmp_path, broker.url))
        service.start(ScriptedPipeline())
        deadline = time.monotonic() + 10
        while not service.metrics()["link_up"] and time.monotonic() < deadline:
            time.sleep(0.05)
        sessions.append(service.metrics()["session"])
        service.stop()
    assert sessions[1] > sessions[0] > 0
