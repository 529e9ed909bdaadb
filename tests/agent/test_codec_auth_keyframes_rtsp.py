"""The agent against cameras that send H.265, want a login, or stop sending keyframes.

One simulator and one pipeline run for the module: slot 1 reads H.264 camera 1 (made to
leave out its keyframes), slot 2 reads H.265 camera 2, slot 3 reads camera 3, which wants a
login, first with a wrong password. Every log line of the run is kept, so the tests can
prove that no password reached any of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.camera import WorkerSettings
from agent.index import Segment
from agent.pipeline import CameraPipeline
from protocol import BoxConfig, CameraConfig, CameraState, QualityConfig, RecordingConfig
from simulator.cameras import CameraSimulator, Fault
from tests.agent.helpers import RecordingSink, ffprobe, wait_until
from tests.agent.running import RunningPipeline, kept_logs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

USER = "viewer"
RIGHT = "R1ght-Secret-4409"
WRONG = "Wr0ng-Secret-7731"
WRONG_ENV = "SCHOOLCAM_TEST_CAM3_WRONG_PASSWORD"
RIGHT_ENV = "SCHOOLCAM_TEST_CAM3_PASSWORD"


@pytest.fixture(scope="module")
def running(
    camera_clips: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPipeline]:
    with kept_logs() as logs:
        os.environ[WRONG_ENV] = WRONG
        os.environ[RIGHT_ENV] = RIGHT
        cameras = CameraSimulator(3, cache_dir=camera_clips, hevc={2}, logins={3: (USER, RIGHT)})
        cameras.start()
        config = BoxConfig(
            cameras=[
                CameraConfig(slot=1, name="gate", url=cameras.url(1)),
                CameraConfig(slot=2, name="yard (H.265)", url=cameras.url(2)),
                CameraConfig(
                    slot=3,
                    name="hall (login)",
                    url=cameras.url(3),
                    username=USER,
                    password_ref=f"env:{WRONG_ENV}",
                ),
            ],
            recording=RecordingConfig(segment_seconds=10),
            quality=QualityConfig(sample_interval_s=1),
        )
        sink = RecordingSink()
        timing = WorkerSettings(stall_after_s=5, no_keyframe_after_s=3, backoff_max_s=2)
        pipeline = CameraPipeline(config, tmp_path_factory.mktemp("store"), sink, timing=timing)
        pipeline.start()
        try:
            yield RunningPipeline(pipeline, sink, cameras, logs)
        finally:
            pipeline.stop()
            cameras.stop()
            os.environ.pop(WRONG_ENV, None)
            os.environ.pop(RIGHT_ENV, None)


def test_wrong_password_is_auth_failed_and_the_others_keep_recording(
    running: RunningPipeline,
) -> None:
    fault = running.sink.wait_for("camera_fault", 15, slot=3, problem="auth_failed")
    assert fault.state == "raised" and "401" in (fault.detail or "")
    assert "Errno" not in (fault.detail or "")  # FFmpeg's words, not PyAV's wrapping
    assert running.state(3) != CameraState.ONLINE
    for slot in (1, 2):
        running.sink.wait_for("camera_online", 10, slot=slot)
    wait_until(lambda: all(v.recording for v in running.pipeline.cameras()[:2]), 5, "1, 2 record")
    assert not running.sink.of("camera_online", slot=3)


def test_right_password_from_the_environment_clears_auth_failed(running: RunningPipeline) -> None:
    running.sink.wait_for("camera_fault", 15, slot=3, problem="auth_failed", state="raised")
    current = running.pipeline._config
    fixed = current.cameras[2].model_copy(update={"password_ref": f"env:{RIGHT_ENV}"})
    running.pipeline.apply(current.model_copy(update={"cameras": [*current.cameras[:2], fixed]}))
    running.sink.wait_for("camera_online", 10, slot=3)
    running.sink.wait_for("camera_fault", 5, slot=3, problem="auth_failed", state="cleared")
    wait_until(lambda: running.pipeline.cameras()[2].recording, 5, "camera 3 records")


def test_no_password_in_any_log_line_or_event(running: RunningPipeline) -> None:
    running.sink.wait_for("camera_fault", 15, slot=3, problem="auth_failed")
    texts = [body.model_dump_json() for body, _ in running.sink.events]
    texts += running.kept.everything()
    assert any("401" in line for line in running.kept.everything())  # the refusals were logged
    for secret in (RIGHT, WRONG):
        leaks = [line for line in texts if secret in line]
        assert not leaks, f"password in {leaks[:3]}"


def test_no_keyframe_is_raised_and_cleared_while_the_camera_stays_online(
    running: RunningPipeline,
) -> None:
    running.sink.wait_for("camera_online", 10, slot=1)
    running.cameras.set_fault(1, Fault.NOKEY)
    try:
        fault = running.sink.wait_for("camera_fault", 10, slot=1, problem="no_keyframe")
        assert fault.state == "raised" and "no keyframe" in (fault.detail or "")
        assert running.state(1) == CameraState.ONLINE  # P-frames still arrive
    finally:
        running.cameras.set_fault(1, Fault.NONE)
    running.sink.wait_for("camera_fault", 5, slot=1, problem="no_keyframe", state="cleared")
    assert not running.sink.of("camera_stalled", slot=1)


def test_h265_is_recorded_as_hevc_and_reported_not_browser_playable(
    running: RunningPipeline,
) -> None:
    running.sink.wait_for("camera_online", 10, slot=2)
    stream = running.pipeline.cameras()[1].stream
    assert stream is not None
    assert (stream.codec, stream.width, stream.height, stream.hd) == ("hevc", 1920, 1080, True)
    assert stream.browser_playable is False
    assert stream.fps == pytest.approx(25, abs=3) and stream.gop == 25
    index = running.pipeline.index
    assert index is not None

    def finished() -> list[Segment]:
        return [s for s in index.all_segments() if s.slot == 2 and not s.open]

    wait_until(lambda: bool(finished()), 20, "a finished segment of camera 2")
    video = ffprobe(finished()[0].path)["streams"][0]
    assert (video["codec_name"], video["codec_tag_string"]) == ("hevc", "hvc1")
    assert (video["width"], video["height"]) == (1920, 1080)


def test_h265_keyframes_are_decoded_for_picture_checks_and_snapshots(
    running: RunningPipeline,
) -> None:
    running.sink.wait_for("camera_online", 10, slot=2)
    worker = running.pipeline._workers[2]
    wait_until(lambda: worker.pictures >= 2, 10, "two H.265 keyframes checked")
    snap = running.pipeline.snapshot(2, timeout=5)
    image = cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (1080, 1920, 3)
    assert float(image.std()) > 20  # the textured scene, not a grey decode failure
    assert not running.sink.of("quality_fault", slot=2)
    assert not [line for line in running.kept.everything() if "keyframe decode failed" in line]
