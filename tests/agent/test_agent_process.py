"""The whole agent as a user runs it: `schoolcam-agent run` against a real broker and cameras."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from protocol import Birth, BoxState, CameraState, CameraStatus, Kind, decode
from protocol.topics import box_filter
from simulator.cameras import CameraSimulator
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient

BOX = "mh-0009-a"


def _agent_yaml(tmp_path: Path, broker: MosquittoBroker, cameras: CameraSimulator) -> Path:
    config = {
        "box_id": BOX,
        "school": "mh-0009",
        "storage": {"path": str(tmp_path / "box"), "segment_seconds": 10},
        "broker": {"url": broker.url, "keepalive_s": 10},
        "cameras": [
            {"slot": slot, "name": f"Camera {slot}", "url": cameras.url(slot)} for slot in (1, 2)
        ],
        "reporting": {"status_heartbeat_s": 5, "telemetry_interval_s": 5},
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_agent_reports_its_cameras_and_stops_cleanly_on_sigterm(
    tmp_path: Path, broker: MosquittoBroker, rtsp_camera_factory: object
) -> None:
    cameras: CameraSimulator = rtsp_camera_factory(2)  # type: ignore[operator]
    centre = TestClient(broker.port, client_id="centre")
    for kind in (Kind.BIRTH, Kind.STATE, Kind.CAMERA_STATUS):
        centre.subscribe(box_filter(kind, BOX))
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "run",
            "--config",
            str(_agent_yaml(tmp_path, broker, cameras)),
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        seen_birth = False
        online: set[int] = set()
        completeness: dict[int, float] = {}
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not (
            seen_birth and online == {1, 2} and set(completeness) == {1, 2}
        ):
            message = decode(*_next(centre))
            if isinstance(message, Birth):
                seen_birth = True
                assert [c.slot for c in message.cameras] == [1, 2]
            if isinstance(message, CameraStatus) and message.state is CameraState.ONLINE:
                assert message.stream is not None and message.stream.hd
                online.add(message.slot)
                if message.completeness:  # 0.0 until the first index update of a segment
                    completeness[message.slot] = message.completeness
        assert seen_birth and online == {1, 2}
        assert set(completeness) == {1, 2}, "statuses must carry today's recording completeness"
        assert all(0 < value <= 1 for value in completeness.values())

        started = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=10) == 0
        assert time.monotonic() - started < 5.0, "SIGTERM must stop the agent within 5 s"
        last_state = None
        while True:
            try:
                message = decode(*_next(centre, timeout=2))
            except Exception:
                break
            if isinstance(message, BoxState):
                last_state = message
        assert last_state is not None
        assert (last_state.state, last_state.reason) == ("offline", "shutdown")
        assert list((tmp_path / "box").rglob("*.mp4")), "the agent recorded nothing"
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        output = agent.stdout.read().decode(errors="replace") if agent.stdout else ""
        centre.close()
        assert "password" not in output.lower() or "***" in output


def _next(client: TestClient, timeout: float = 10.0) -> tuple[str, bytes | bytearray]:
    received = client.next_message(timeout=timeout)
    return received.topic, received.payload
