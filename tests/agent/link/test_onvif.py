"""PTZ and reboot over ONVIF against a SOAP responder (a test double) served on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.link import LinkService
from protocol import (
    CameraRebootCommand,
    CommandRequest,
    Kind,
    PtzMoveCommand,
    PtzPresetCommand,
    PtzStopCommand,
    topic,
)
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX, agent_config
from tests.agent.link.doubles import ScriptedPipeline
from tests.agent.link.servers import OnvifResponder
from tests.harness.mosquitto import MosquittoBroker

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def onvif_double() -> Iterator[OnvifResponder]:
    responder = OnvifResponder("admin", "ptz-secret")
    yield responder
    responder.close()


def _ask(centre: Centre, request_id: str, command: Any) -> Any:
    centre.send(
        CommandRequest(
            box_id=BOX,
            request_id=request_id,
            reply_to=topic(Kind.COMMAND_REPLY, BOX),
            deadline=datetime.now(UTC) + timedelta(seconds=20),
            command=command,
        )
    )
    return centre.wait_for(lambda m: m.kind == Kind.COMMAND_REPLY and m.request_id == request_id)[0]


def test_ptz_and_reboot(
    tmp_path: Path,
    broker: MosquittoBroker,
    centre: Centre,
    onvif_double: OnvifResponder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAM1_PASSWORD", "ptz-secret")
    cameras = [
        {
            "slot": 1,
            "name": "Playground PTZ",
            "url": "rtsp://127.0.0.1:554/main",
            "username": "admin",
            "password_env": "CAM1_PASSWORD",
            "onvif_port": onvif_double.port,
        },
        {
            "slot": 2,
            "name": "Gate",
            "url": "rtsp://127.0.0.1:554/gate",
            "username": "admin",
            "password_env": "CAM2_PASSWORD_UNSET_X",
            "onvif_port": onvif_double.port,
        },
    ]
    monkeypatch.setenv("CAM2_PASSWORD_UNSET_X", "wrong")
    service = LinkService(agent_config(tmp_path, broker.url, cameras=cameras))
    service.start(ScriptedPipeline())
    try:
        centre.wait_for(lambda m: m.kind == Kind.BIRTH)
        assert _ask(centre, "m1", PtzMoveCommand(slot=1, pan=0.5, tilt=-0.25, duration_s=2)).ok
        assert _ask(centre, "s1", PtzStopCommand(slot=1)).ok
        assert _ask(centre, "p1", PtzPresetCommand(slot=1, preset="Gate view")).ok
        assert _ask(centre, "r1", CameraRebootCommand(slot=1)).ok
        ops = [name for name, _ in onvif_double.operations]
        assert ops == [
            "GetProfiles",
            "ContinuousMove",
            "GetProfiles",
            "Stop",
            "GetProfiles",
            "GotoPreset",
            "SystemReboot",
        ]
        move = onvif_double.operations[1][1]
        assert 'x="0.500"' in move and 'y="-0.250"' in move and "PT2S" in move
        assert "Profile_1" in move and "Gate view" in onvif_double.operations[5][1]

        refused = _ask(centre, "m2", PtzStopCommand(slot=2))  # wrong password: clear failure
        assert refused.error.code == "failed" and "not authorized" in refused.error.message
        assert "wrong" not in refused.error.message
    finally:
        service.stop()
