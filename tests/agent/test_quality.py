"""The diagnosis state machine: debouncing, suppression, baseline, configuration."""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from agent.keyframes import KeyframeDecoder
from agent.picture import PictureStats
from agent.quality import QualityDiagnoser, QualityTransition
from protocol import QualityConfig, QualityFault
from simulator.clips import CLIPS, ensure_clips

pytestmark = pytest.mark.timeout(30)

START = datetime(2024, 9, 2, 7, 30, tzinfo=UTC)

CLEAN = PictureStats(
    brightness=120, spread=40, sharpness=1000, texture=0.9, chroma_offset=3, difference=12
)
BLACK = PictureStats(
    brightness=16, spread=0.2, sharpness=0, texture=0, chroma_offset=0, difference=0
)
FROZEN = replace(CLEAN, difference=0.1)
BLURRED = replace(CLEAN, sharpness=100)
COVERED = PictureStats(
    brightness=28, spread=7, sharpness=60, texture=0.04, chroma_offset=9, difference=0.4
)
DARK = replace(CLEAN, brightness=25)
TINTED = replace(CLEAN, chroma_offset=55)


class Run:
    """Feeds samples ten seconds apart, as a camera worker would."""

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.diagnoser = QualityDiagnoser(config or QualityConfig())
        self.at = START

    def feed(self, stats: PictureStats, times: int = 1) -> list[QualityTransition]:
        out: list[QualityTransition] = []
        for _ in range(times):
            self.at += timedelta(seconds=10)
            out += self.diagnoser.observe_stats(stats, self.at)
        return out


def changes(transitions: list[QualityTransition]) -> list[tuple[QualityFault, str]]:
    return [(t.fault, t.state) for t in transitions]


def warmed(config: QualityConfig | None = None) -> Run:
    run = Run(config)
    assert run.feed(CLEAN, 5) == []
    return run


def test_a_fault_is_raised_only_after_n_hits_in_a_row() -> None:
    run = warmed()
    assert run.feed(TINTED, 2) == []
    assert run.feed(CLEAN) == []  # the run of hits is broken
    assert run.feed(TINTED, 2) == []
    raised = run.feed(TINTED)
    assert raised == [QualityTransition(QualityFault.COLOUR_CAST, "raised", 55, 40)]
    assert run.diagnoser.active == {QualityFault.COLOUR_CAST}
    assert run.feed(TINTED, 5) == []  # raised once, not again


def test_a_fault_is_cleared_after_m_clean_samples_in_a_row() -> None:
    run = warmed()
    run.feed(DARK, 3)
    assert run.diagnoser.active == {QualityFault.BRIGHTNESS}
    assert run.feed(CLEAN) == []
    assert run.feed(DARK) == []  # a hit resets the clean run
    assert run.feed(CLEAN) == []
    cleared = run.feed(CLEAN)
    assert cleared == [QualityTransition(QualityFault.BRIGHTNESS, "cleared", 120, None)]
    assert run.diagnoser.active == frozenset()


def test_signal_loss_suppresses_every_other_check() -> None:
    run = warmed()
    run.feed(FROZEN, 3)
    assert run.diagnoser.active == {QualityFault.FROZEN}
    # A black picture is also frozen, dark, flat and soft: only the loss may be reported,
    # and what was raised before is cleared when the loss is raised, not on a first hit.
    assert run.feed(BLACK, 2) == []
    assert run.diagnoser.active == {QualityFault.FROZEN}
    transitions = run.feed(BLACK, 10)
    assert changes(transitions) == [
        (QualityFault.SIGNAL_LOSS, "raised"),
        (QualityFault.FROZEN, "cleared"),
    ]
    assert run.diagnoser.active == {QualityFault.SIGNAL_LOSS}
    assert changes(run.feed(CLEAN, 2)) == [(QualityFault.SIGNAL_LOSS, "cleared")]
    assert run.feed(CLEAN, 5) == []


def test_a_uniform_grey_picture_is_signal_loss_too() -> None:
    run = warmed()
    grey = replace(BLACK, brightness=128, spread=1.0)
    assert changes(run.feed(grey, 3)) == [(QualityFault.SIGNAL_LOSS, "raised")]


def test_a_dark_scene_with_a_lit_window_is_not_signal_loss() -> None:
    run = warmed()
    night = replace(CLEAN, brightness=18, spread=25)
    assert changes(run.feed(night, 3)) == [(QualityFault.BRIGHTNESS, "raised")]


def test_occlusion_suppresses_blur_brightness_and_frozen() -> None:
    run = warmed()
    assert changes(run.feed(COVERED, 6)) == [(QualityFault.OCCLUSION, "raised")]
    assert changes(run.feed(CLEAN, 2)) == [(QualityFault.OCCLUSION, "cleared")]


def test_blur_is_judged_against_the_camera_baseline() -> None:
    run = warmed()
    assert run.diagnoser.baseline == pytest.approx(1000)
    transitions = run.feed(BLURRED, 3)
    assert transitions == [QualityTransition(QualityFault.BLUR, "raised", 0.1, 0.25)]
    # A softer but still focused picture (a quieter scene) is not blur.
    assert changes(run.feed(replace(CLEAN, sharpness=400), 2)) == [(QualityFault.BLUR, "cleared")]


def test_the_baseline_does_not_learn_a_fault_as_normal() -> None:
    run = warmed()
    run.feed(BLURRED, 100)
    assert run.diagnoser.active == {QualityFault.BLUR}
    assert run.diagnoser.baseline == pytest.approx(1000)
    # Nor from samples that hit but are not raised yet, nor while another fault is raised.
    run.feed(CLEAN, 2)
    run.feed(replace(DARK, sharpness=100), 40)
    assert run.diagnoser.baseline == pytest.approx(1000)
    run.feed(CLEAN, 2)
    assert changes(run.feed(BLURRED, 3)) == [(QualityFault.BLUR, "raised")]


def test_before_a_baseline_exists_only_the_absolute_floor_judges_blur() -> None:
    run = Run()
    soft = replace(CLEAN, sharpness=QualityConfig().blur_sharpness_floor / 2)
    assert changes(run.feed(soft, 3)) == [(QualityFault.BLUR, "raised")]
    assert run.diagnoser.baseline is None


def test_a_config_update_takes_effect_on_the_next_sample() -> None:
    run = warmed()
    dim = replace(CLEAN, brightness=50)
    assert run.feed(dim, 3) == []
    run.diagnoser.update_config(QualityConfig(brightness_low=60, consecutive_hits=1))
    assert run.feed(dim) == [QualityTransition(QualityFault.BRIGHTNESS, "raised", 50, 60)]


def test_switching_the_checks_off_clears_what_was_raised() -> None:
    run = warmed()
    run.feed(TINTED, 3)
    run.diagnoser.update_config(QualityConfig(enabled=False))
    assert changes(run.feed(TINTED)) == [(QualityFault.COLOUR_CAST, "cleared")]
    assert run.feed(TINTED, 5) == []
    assert run.diagnoser.active == frozenset()


def test_reset_forgets_pending_hits_but_keeps_raised_faults() -> None:
    run = warmed()
    run.feed(DARK, 3)
    dark_and_tinted = replace(DARK, chroma_offset=55)
    run.feed(dark_and_tinted, 2)
    run.diagnoser.reset()
    assert run.diagnoser.active == {QualityFault.BRIGHTNESS}
    assert run.feed(dark_and_tinted, 2) == []  # the count started again
    assert changes(run.feed(CLEAN, 2)) == [(QualityFault.BRIGHTNESS, "cleared")]


def frame(luma: int, u: int = 128, v: int = 128, seed: int | None = None) -> av.VideoFrame:
    planes = np.empty((270, 320), np.uint8)
    if seed is None:
        planes[:180] = luma
    else:
        planes[:180] = np.random.default_rng(seed).integers(0, 256, (180, 320), dtype=np.uint8)
    planes[180:225] = u
    planes[225:] = v
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def test_observe_judges_decoded_frames() -> None:
    diagnoser = QualityDiagnoser(QualityConfig(consecutive_hits=2))
    at = START
    seen: list[QualityTransition] = []
    for index in range(4):
        at += timedelta(seconds=10)
        seen += diagnoser.observe(frame(0, seed=index), at)
    assert seen == []
    for _ in range(2):
        at += timedelta(seconds=10)
        seen += diagnoser.observe(frame(16), at)
    assert changes(seen) == [(QualityFault.SIGNAL_LOSS, "raised")]
    assert diagnoser.last_sample_at == at
    assert diagnoser.last_stats is not None and diagnoser.last_stats.spread == 0


def test_observe_copes_with_frames_in_other_formats() -> None:
    diagnoser = QualityDiagnoser(QualityConfig(consecutive_hits=1))
    rgb = av.VideoFrame.from_ndarray(np.full((180, 320, 3), (200, 40, 40), np.uint8), "rgb24")
    transitions = diagnoser.observe(rgb, START)
    assert changes(transitions) == [(QualityFault.SIGNAL_LOSS, "raised")]
    stats = diagnoser.last_stats
    assert stats is not None and stats.chroma_offset is not None and stats.chroma_offset > 40


# --- The simulator's pre-encoded camera clips, sampled one keyframe at a time ----------------


@pytest.fixture(scope="module")
def clip_dir() -> Path:
    return ensure_clips().parent


def clip_keyframes(path: Path, loops: int) -> Iterator[av.VideoFrame]:
    """The clip's keyframes, looped as the camera server loops it."""
    for _ in range(loops):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoder = KeyframeDecoder(stream)
            for packet in container.demux(stream):
                if packet.is_keyframe and packet.size:
                    frame = decoder.decode(packet)
                    assert frame is not None
                    yield frame


def run_clip(diagnoser: QualityDiagnoser, path: Path, samples: int) -> list[QualityTransition]:
    at = START
    seen: list[QualityTransition] = []
    for frame in itertools.islice(clip_keyframes(path, loops=4), samples):
        at += timedelta(seconds=10)
        seen += diagnoser.observe(frame, at)
    return seen


def clip_path(clip_dir: Path, stream: str, picture: str) -> Path:
    spec = next(s for s in CLIPS if s.stream == stream and s.picture == picture)
    return clip_dir / spec.file_name()


@pytest.mark.parametrize("stream", ["main", "sub"])
def test_a_clean_camera_raises_nothing_over_two_minutes(clip_dir: Path, stream: str) -> None:
    diagnoser = QualityDiagnoser(QualityConfig())
    assert run_clip(diagnoser, clip_path(clip_dir, stream, "clean"), samples=16) == []
    assert diagnoser.baseline is not None


@pytest.mark.parametrize(
    ("stream", "picture", "fault"),
    [
        ("main", "black", QualityFault.SIGNAL_LOSS),
        ("main", "frozen", QualityFault.FROZEN),
        ("main", "blur", QualityFault.BLUR),
        ("main", "cover", QualityFault.OCCLUSION),
        ("main", "lowres", None),  # a resolution fault is the stream stats' to report
        ("sub", "black", QualityFault.SIGNAL_LOSS),
        ("sub", "frozen", QualityFault.FROZEN),
        ("sub", "blur", QualityFault.BLUR),
        ("sub", "cover", QualityFault.OCCLUSION),
    ],
)
def test_each_fault_clip_raises_its_fault_and_only_it(
    clip_dir: Path, stream: str, picture: str, fault: QualityFault | None
) -> None:
    diagnoser = QualityDiagnoser(QualityConfig())
    assert run_clip(diagnoser, clip_path(clip_dir, stream, "clean"), samples=4) == []
    seen = run_clip(diagnoser, clip_path(clip_dir, stream, picture), samples=12)
    expected = [] if fault is None else [(fault, "raised")]
    assert changes(seen) == expected
    # Back to the clean picture, the fault clears after the configured clean samples.
    cleared = run_clip(diagnoser, clip_path(clip_dir, stream, "clean"), samples=3)
    assert changes(cleared) == ([] if fault is None else [(fault, "cleared")])
    assert diagnoser.active == frozenset()


# --- End to end: a real RTSP camera, faults switched while it is being watched ---------------


def rtsp_samples(
    url: str, diagnoser: QualityDiagnoser, deadline: float
) -> Generator[list[QualityTransition], None, None]:
    """Read the camera as a worker does and judge every keyframe (one a second)."""
    options = {"rtsp_transport": "tcp", "timeout": "5000000"}
    with av.open(url, options=options) as container:
        stream = container.streams.video[0]
        decoder = KeyframeDecoder(stream)
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                raise AssertionError("the camera run took too long")
            if not packet.is_keyframe or not packet.size:
                continue
            frame = decoder.decode(packet)
            if frame is not None:
                yield diagnoser.observe(frame, datetime.now(UTC))


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.timeout(60)
def test_faults_switched_on_a_live_camera_are_raised_and_cleared(rtsp_cameras: Any) -> None:
    config = QualityConfig(sample_interval_s=1, consecutive_hits=2, consecutive_clears=2)
    diagnoser = QualityDiagnoser(config)
    samples = rtsp_samples(rtsp_cameras.url(1), diagnoser, time.monotonic() + 40)
    seen: list[QualityTransition] = []

    def until(fault: QualityFault, state: str, within: int = 6) -> None:
        for transitions in itertools.islice(samples, within):
            seen.extend(transitions)
            if (fault, state) in changes(transitions):
                return
        pytest.fail(f"{fault} not {state} within {within} samples; saw {changes(seen)}")

    try:
        for transitions in itertools.islice(samples, 4):
            assert transitions == []
        assert diagnoser.baseline is not None
        for fault, picture in [
            (QualityFault.SIGNAL_LOSS, "black"),
            (QualityFault.FROZEN, "frozen"),
            (QualityFault.OCCLUSION, "cover"),
        ]:
            rtsp_cameras.set_fault(1, picture)
            until(fault, "raised")
            rtsp_cameras.set_fault(1, "none")
            until(fault, "cleared")
    finally:
        samples.close()
    assert changes(seen) == [
        (QualityFault.SIGNAL_LOSS, "raised"),
        (QualityFault.SIGNAL_LOSS, "cleared"),
        (QualityFault.FROZEN, "raised"),
        (QualityFault.FROZEN, "cleared"),
        (QualityFault.OCCLUSION, "raised"),
        (QualityFault.OCCLUSION, "cleared"),
    ]
