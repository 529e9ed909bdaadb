"""Camera threads share one CPU, and the pipeline reports what its picture checks cost."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from agent.camera import WorkerSettings, camera_cpu
from agent.pipeline import CameraPipeline
from protocol import BoxConfig, CameraConfig, CameraState, QualityConfig, RecordingConfig
from tests.agent.helpers import RecordingSink, wait_until
from tests.fixtures.cameras import CameraFactory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def _camera_threads() -> dict[str, int]:
    return {
        t.name: t.native_id
        for t in threading.enumerate()
        if t.name.startswith("camera-") and t.name != "camera-watchdog" and t.native_id
    }


def test_camera_cpu_is_the_highest_cpu_the_process_may_use() -> None:
    allowed = os.sched_getaffinity(0)
    assert camera_cpu() == (max(allowed) if len(allowed) > 1 else None)


@pytest.mark.parametrize("one_cpu", [True, False])
def test_camera_threads_share_one_cpu_and_picture_cost_is_counted(
    one_cpu: bool, rtsp_camera_factory: CameraFactory, tmp_path: Path
) -> None:
    cameras = rtsp_camera_factory(2)
    config = BoxConfig(
        cameras=[CameraConfig(slot=n, name=f"cam {n}", url=cameras.url(n)) for n in (1, 2)],
        recording=RecordingConfig(segment_seconds=10),
        quality=QualityConfig(sample_interval_s=10),
    )
    pipeline = CameraPipeline(
        config, tmp_path, RecordingSink(), timing=WorkerSettings(one_cpu=one_cpu)
    )
    everyone = os.sched_getaffinity(0)
    pipeline.start()
    try:
        wait_until(
            lambda: all(v.state == CameraState.ONLINE for v in pipeline.cameras()),
            20,
            "both cameras online",
        )
        # the first keyframe of a session is checked at once
        wait_until(lambda: pipeline.picture_cost()[0] >= 2, 10, "a picture check per camera")
        pictures, cpu_s = pipeline.picture_cost()
        assert 0 < cpu_s < pictures * 1.0  # a 1080p keyframe costs tens of ms, not a second
        threads = _camera_threads()
        assert sorted(threads) == ["camera-01", "camera-02"]
        shared = camera_cpu()
        for native_id in threads.values():
            expected = {shared} if one_cpu and shared is not None else everyone
            assert os.sched_getaffinity(native_id) == expected
        assert os.sched_getaffinity(0) == everyone  # only the camera threads are bound
    finally:
        pipeline.stop()
