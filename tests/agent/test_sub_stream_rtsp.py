"""Picture checks from the cameras' sub streams, against real RTSP cameras (the simulator).

One simulator and one pipeline run for the module. Slots 1-5 read cameras 1-5 with their sub
streams configured. Slot 6 reads camera 6, but its sub URL points at camera 7's sub stream,
and camera 7 is gone at the start: slot 6 must sample its main stream until camera 7 comes
back, then take the sub stream again, and record throughout. Every log line is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from agent.camera import CameraWorker, WorkerSettings
from agent.pipeline import CameraPipeline
from protocol import BoxConfig, CameraConfig, CameraState, QualityConfig, RecordingConfig
from simulator.cameras import CameraSimulator, Fault
from tests.agent.helpers import RecordingSink, wait_until
from tests.agent.running import RunningPipeline, kept_logs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FAULTS = {1: (Fault.BLACK, "signal_loss"), 2: (Fault.FROZEN, "frozen")}
FAULTS |= {3: (Fault.BLUR, "blur"), 4: (Fault.COVER, "occlusion")}
CLEAN = 5
FALLBACK = 6


def sampled(worker: CameraWorker, at_least: int) -> bool:
    """Whether the worker's sub-stream sampler has tried at least `at_least` sessions."""
    return worker.sampler is not None and worker.sampler.pictures >= at_least


@pytest.fixture(scope="module")
def running(
    camera_clips: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPipeline]:
    with kept_logs() as logs:
        cameras = CameraSimulator(7, cache_dir=camera_clips)
        cameras.start()
        cameras.set_fault(7, Fault.GONE)
        config = BoxConfig(
            cameras=[
                *(
                    CameraConfig(
                        slot=n, name=f"cam {n}", url=cameras.url(n), sub_url=cameras.url(n, True)
                    )
                    for n in range(1, 6)
                ),
                CameraConfig(
                    slot=FALLBACK, name="cam 6", url=cameras.url(6), sub_url=cameras.url(7, True)
                ),
            ],
            recording=RecordingConfig(segment_seconds=10),
            quality=QualityConfig(sample_interval_s=1, consecutive_hits=2, consecutive_clears=2),
        )
        sink = RecordingSink()
        timing = WorkerSettings(sub_stream_budget_s=3, sub_stream_retry_max_s=4, backoff_max_s=2)
        pipeline = CameraPipeline(config, tmp_path_factory.mktemp("store"), sink, timing=timing)
        pipeline.start()
        try:
            yield RunningPipeline(pipeline, sink, cameras, logs)
        finally:
            pipeline.stop()
            cameras.stop()


def test_clean_cameras_are_checked_on_the_sub_stream_and_raise_nothing(
    running: RunningPipeline,
) -> None:
    for slot in (*FAULTS, CLEAN):
        worker = running.worker(slot)
        wait_until(partial(sampled, worker, 4), 30, f"four sub-stream samples of slot {slot}")
        assert worker.picture_source == "sub"
        assert worker.pictures == 0, "no main-stream keyframe decoded for the checks"
        assert worker.sampler is not None and worker.sampler.active
        assert running.quality_faults(slot) == []
    # snapshots stay on the main stream, at full resolution
    shot = running.pipeline.snapshot(CLEAN, timeout=10)
    assert (shot.width, shot.height) == (1920, 1080)


def test_each_picture_fault_on_the_sub_stream_is_raised_and_cleared(
    running: RunningPipeline,
) -> None:
    for slot, (fault, _) in FAULTS.items():
        running.cameras.set_fault(slot, fault)
    try:
        for slot, (_, name) in FAULTS.items():
            running.sink.wait_for("quality_fault", 30, slot=slot, state="raised")
            assert running.quality_faults(slot) == [(name, "raised")]
    finally:
        for slot in FAULTS:
            running.cameras.set_fault(slot, Fault.NONE)
    for slot, (_, name) in FAULTS.items():
        running.sink.wait_for("quality_fault", 30, slot=slot, state="cleared")
        assert running.quality_faults(slot) == [(name, "raised"), (name, "cleared")]
        assert running.worker(slot).picture_source == "sub"
    assert running.quality_faults(CLEAN) == []


def test_a_failing_sub_stream_falls_back_to_the_main_stream_and_comes_back(
    running: RunningPipeline,
) -> None:
    worker = running.worker(FALLBACK)
    assert worker.sampler is not None
    wait_until(lambda: worker.picture_source == "main", 20, "checks from the main stream")
    wait_until(lambda: worker.sampler is not None and worker.sampler.failures >= 3, 30, "retries")
    assert not worker.sampler.active
    warned = running.kept.lines(logging.WARNING, f"slot {FALLBACK}: sub stream failed")
    assert len(warned) == 1, warned  # said once, however often it is retried
    view = next(v for v in running.pipeline.cameras() if v.slot == FALLBACK)
    assert view.state == CameraState.ONLINE and view.recording
    assert view.stream is not None and view.stream.height == 1080

    running.cameras.set_fault(7, Fault.NONE)  # the sub stream answers again
    wait_until(lambda: worker.picture_source == "sub", 20, "checks back on the sub stream")
    assert worker.sampler.active and worker.sampler.failures == 0
    assert len(running.kept.lines(logging.INFO, f"slot {FALLBACK}: sub stream is back")) == 1
    assert running.quality_faults(FALLBACK) == []
    assert running.sink.of("recording_gap", slot=FALLBACK) == []
    assert running.sink.of("camera_offline", slot=FALLBACK) == []


def test_a_dead_camera_is_a_capture_fault_not_a_picture_fault(running: RunningPipeline) -> None:
    worker = running.worker(CLEAN)
    assert worker.sampler is not None
    onlines = len(running.sink.of("camera_online", slot=CLEAN))
    running.cameras.set_fault(CLEAN, Fault.GONE)
    try:
        running.sink.wait_for("camera_offline", 15, slot=CLEAN)
        tried = worker.sampler.pictures
        time.sleep(4)  # four sample intervals with the main stream down
        assert worker.sampler.pictures <= tried + 1  # at most the session already under way
    finally:
        running.cameras.set_fault(CLEAN, Fault.NONE)
    wait_until(
        lambda: len(running.sink.of("camera_online", slot=CLEAN)) > onlines, 20, "back online"
    )
    resumed = worker.sampler.pictures
    wait_until(partial(sampled, worker, resumed + 2), 20, "sub-stream samples again")
    assert running.quality_faults(CLEAN) == []
