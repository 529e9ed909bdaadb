"""The whole camera pipeline against real RTSP cameras (GStreamer simulator).

One pipeline runs for the module: cameras 1-3 of the simulator, a non-RTSP URL in slot 4 and
a camera nobody answers for in slot 5. The tests then break and mend cameras in turn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.camera import WorkerSettings
from agent.index import Segment
from agent.interfaces import CommandFailed, ConfigRejected
from agent.pipeline import CameraPipeline
from protocol import BoxConfig, CameraConfig, CameraState, RecordingConfig, utc_now
from simulator.cameras import CameraSimulator
from tests.agent.helpers import RecordingSink, ffprobe_duration, wait_until
from tests.agent.running import RunningPipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def running(
    module_cameras: CameraSimulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPipeline]:
    config = BoxConfig(
        cameras=[
            *(CameraConfig(slot=n, name=f"cam {n}", url=module_cameras.url(n)) for n in (1, 2, 3)),
            CameraConfig(slot=4, name="web cam", url="http://127.0.0.1/cam.mjpg"),
            CameraConfig(slot=5, name="nobody", url="rtsp://127.0.0.1:9/none"),
        ],
        recording=RecordingConfig(segment_seconds=10),
    )
    sink = RecordingSink()
    pipeline = CameraPipeline(
        config, tmp_path_factory.mktemp("store"), sink, timing=WorkerSettings(stall_after_s=5)
    )
    pipeline.start()
    try:
        yield RunningPipeline(pipeline, sink, module_cameras)
    finally:
        started = time.monotonic()
        pipeline.stop()
        assert time.monotonic() - started < 10, "stop must return within a few seconds"


def test_good_cameras_come_online_whatever_the_broken_ones_do(running: RunningPipeline) -> None:
    for slot in (1, 2, 3):
        running.sink.wait_for("camera_online", 10, slot=slot)
    fault = running.sink.wait_for("camera_fault", 5, slot=4)
    assert (fault.problem, fault.state) == ("unsupported_url", "raised")
    assert running.state(4) == CameraState.ERROR
    running.sink.wait_for("camera_offline", 10, slot=5)
    view = next(v for v in running.pipeline.cameras() if v.slot == 1)
    wait_until(lambda: running.pipeline.cameras()[0].recording, 5, "camera 1 records")
    stream = running.pipeline.cameras()[0].stream
    assert stream is not None
    assert (stream.codec, stream.width, stream.height, stream.hd) == ("h264", 1920, 1080, True)
    assert stream.browser_playable and stream.fps == pytest.approx(25, abs=2)
    assert view.error is None


def test_snapshot_is_a_jpeg_of_the_camera_picture(running: RunningPipeline) -> None:
    running.sink.wait_for("camera_online", 10, slot=1)
    snap = running.pipeline.snapshot(1, timeout=5)
    image = cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert snap.jpeg[:2] == b"\xff\xd8" and image.shape == (1080, 1920, 3)
    assert (snap.width, snap.height) == (1920, 1080)
    with pytest.raises(CommandFailed) as offline:
        running.pipeline.snapshot(5, timeout=1)
    assert offline.value.code == "camera_offline"
    with pytest.raises(CommandFailed) as unknown:
        running.pipeline.snapshot(9)
    assert unknown.value.code == "unknown_slot"


def test_stall_is_caught_within_10_s_and_recovery_leaves_a_gap(running: RunningPipeline) -> None:
    running.sink.wait_for("camera_online", 10, slot=2)
    wait_until(lambda: running.pipeline.cameras()[1].recording, 5, "camera 2 records")
    stalled_at = time.monotonic()
    running.cameras.set_fault(2, "stall")
    running.sink.wait_for("camera_stalled", 10, slot=2)
    assert time.monotonic() - stalled_at < 10
    assert running.state(2) == CameraState.STALLED
    dark = running.pipeline.cameras()[1].stream
    assert dark is not None and (dark.codec, dark.fps, dark.bitrate_kbps) == ("h264", 0.0, 0.0)
    running.cameras.set_fault(2, "none")
    gap = running.sink.wait_for("recording_gap", 20, slot=2)
    wait_until(lambda: running.state(2) == CameraState.ONLINE, 5, "camera 2 back online")
    assert "stalled" in gap.reason and (gap.end - gap.start).total_seconds() >= 4
    found = running.pipeline.search(2, gap.start - timedelta(minutes=1), utc_now())
    assert [(g.start, g.end) for g in found.gaps] == [(gap.start, gap.end)]


def test_gone_camera_goes_offline_and_comes_back(running: RunningPipeline) -> None:
    running.sink.wait_for("camera_online", 10, slot=3)
    running.cameras.set_fault(3, "gone")
    running.sink.wait_for("camera_offline", 12, slot=3)
    running.cameras.set_fault(3, "none")
    wait_until(lambda: running.state(3) == CameraState.ONLINE, 20, "camera 3 back online")
    gap = running.sink.wait_for("recording_gap", 10, slot=3)
    assert "offline" in gap.reason or "stalled" in gap.reason


def test_segments_play_and_match_the_index(running: RunningPipeline) -> None:
    index = running.pipeline.index
    assert index is not None

    def finished() -> list[Segment]:
        return [s for s in index.all_segments() if s.slot == 1 and not s.open]

    wait_until(lambda: len(finished()) >= 2, 30, "two finished segments of camera 1")
    for seg in finished():
        assert 9 <= seg.duration_s <= 12
        assert abs(ffprobe_duration(seg.path) - seg.duration_s) < 1.0
    today = utc_now()
    assert 0 < running.pipeline.completeness(1, today) <= 1  # type: ignore[operator]


def test_apply_rejects_unresolvable_passwords_and_restarts_only_changed_cameras(
    running: RunningPipeline,
) -> None:
    pipeline = running.pipeline
    current = pipeline._config
    bad = current.model_copy(update={"cameras": [
        *current.cameras[:4],
        current.cameras[4].model_copy(update={"password_ref": "env:SCHOOLCAM_TEST_NO_SUCH_VAR"}),
    ]})  # fmt: skip
    with pytest.raises(ConfigRejected) as rejected:
        pipeline.apply(bad)
    assert rejected.value.issues[0].path == "cameras.4.password_ref"
    worker_1 = pipeline._workers[1]
    fixed = CameraConfig(slot=4, name="now rtsp", url=running.cameras.url(4))
    pipeline.apply(current.model_copy(update={"cameras": [*current.cameras[:3], fixed]}))
    assert pipeline._workers[1] is worker_1  # unchanged camera kept running
    assert 5 not in pipeline._workers
    running.sink.wait_for("camera_online", 10, slot=4)
    running.sink.wait_for("camera_fault", 1, slot=4, state="cleared")


def test_probe_says_what_a_camera_delivers(running: RunningPipeline) -> None:
    result = running.pipeline.probe(1, timeout=8)
    assert result.reachable and result.stream is not None and result.stream.hd
    assert result.stream.codec == "h264" and result.stream.gop == 25


def test_unwritable_storage_is_reported_and_cameras_still_watched(
    module_cameras: CameraSimulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the storage directory should be")
    sink = RecordingSink()
    config = BoxConfig(cameras=[CameraConfig(slot=1, name="cam", url=module_cameras.url(1))])
    pipeline = CameraPipeline(config, blocker, sink)
    pipeline.start()
    try:
        fault = sink.wait_for("storage_fault", 5)
        assert (fault.problem, fault.state) == ("unwritable", "raised")
        sink.wait_for("camera_online", 10, slot=1)
        assert not pipeline.cameras()[0].recording
        with pytest.raises(CommandFailed):
            pipeline.search(1, utc_now() - timedelta(hours=1), utc_now())
    finally:
        pipeline.stop()
