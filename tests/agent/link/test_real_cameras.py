"""End to end with the real CameraPipeline and RTSP test cameras: what the centre sees when a
camera is unplugged and replugged, and a snapshot command returning a JPEG."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.camera import WorkerSettings
from agent.link import LinkService
from agent.pipeline import CameraPipeline
from protocol import CameraState, CommandRequest, Kind, SnapshotCommand, topic
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX, agent_config
from tests.harness.mosquitto import MosquittoBroker


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_unplug_replug_and_snapshot(
    tmp_path: Path,
    broker: MosquittoBroker,
    centre: Centre,
    rtsp_camera_factory,
) -> None:
    cams = rtsp_camera_factory(2)
    cameras = [{"slot": s, "name": f"Camera {s}", "url": cams.url(s, sub=True)} for s in (1, 2)]
    config = agent_config(tmp_path, broker.url, cameras=cameras)
    link = LinkService(config)
    timing = WorkerSettings(
        stall_after_s=2, open_timeout_s=3, backoff_initial_s=0.5, backoff_max_s=2, healthy_after_s=1
    )
    pipeline = CameraPipeline(config.box_config(), config.storage.path, link.sink, timing=timing)
    link.start(pipeline)
    pipeline.start()
    try:

        def status(slot: int, state: CameraState) -> Callable[[Any], bool]:
            return lambda m: m.kind == Kind.CAMERA_STATUS and m.slot == slot and m.state == state

        centre.wait_for(status(1, CameraState.ONLINE), timeout=30)
        centre.wait_for(status(2, CameraState.ONLINE), timeout=30)
        centre.send(
            CommandRequest(
                box_id=BOX,
                request_id="snap-real",
                reply_to=topic(Kind.COMMAND_REPLY, BOX),
                deadline=datetime.now(UTC) + timedelta(seconds=20),
                command=SnapshotCommand(slot=1),
            )
        )
        reply = centre.wait_for(
            lambda m: m.kind == Kind.COMMAND_REPLY and m.request_id == "snap-real", timeout=25
        )[0]
        assert reply.ok, reply.error
        assert base64.b64decode(reply.result.jpeg_base64)[:2] == b"\xff\xd8"

        cams.set_fault(2, "gone")  # unplugged
        down = centre.wait_for(
            lambda m: (
                m.kind == Kind.EVENT
                and getattr(m.body, "slot", None) == 2
                and m.body.type in ("camera_offline", "camera_stalled")
            ),
            timeout=30,
        )[0]
        centre.wait_for(
            lambda m: (
                m.kind == Kind.CAMERA_STATUS
                and m.slot == 2
                and m.state in (CameraState.OFFLINE, CameraState.STALLED, CameraState.CONNECTING)
            ),
            timeout=30,
        )
        cams.set_fault(2, "none")  # replugged
        up = centre.wait_for(
            lambda m: (
                m.kind == Kind.EVENT
                and getattr(m.body, "slot", None) == 2
                and m.body.type == "camera_online"
                and m.seq > down.seq
            ),
            timeout=40,
        )[0]
        centre.wait_for(
            lambda m: (
                m.kind == Kind.CAMERA_STATUS
                and m.slot == 2
                and m.state == CameraState.ONLINE
                and m.seq > up.seq - 50
            ),
            timeout=30,
        )
    finally:
        pipeline.stop()
        link.stop()
