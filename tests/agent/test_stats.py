"""Frame rate and bitrate from packets: the stream's clock when it runs straight, else arrival."""

from __future__ import annotations

import pytest

from agent.stats import StreamFormat, StreamStatsTracker
from protocol import StreamStats

FPS = 25
FRAME_BYTES = 10_000  # 2,000 kbit/s at 25 fps


def _tracker() -> StreamStatsTracker:
    tracker = StreamStatsTracker()
    tracker.connected(StreamFormat("h264", 1920, 1080))
    return tracker


def _assert_camera_pace(stats: StreamStats | None) -> None:
    """25 fps and 2,000 kbit/s, as the packets were sent."""
    assert stats is not None
    assert stats.fps == pytest.approx(FPS, rel=0.02)
    assert stats.bitrate_kbps == pytest.approx(2000, rel=0.02)


def test_packets_buffered_while_probing_do_not_raise_the_frame_rate() -> None:
    """FFmpeg hands over what it read while probing all at once, then the live pace follows."""
    tracker = _tracker()
    buffered = 12
    for frame in range(buffered):
        tracker.packet(0.0, frame / FPS, FRAME_BYTES, frame == 0)
    for frame in range(buffered, buffered + 3 * FPS):
        tracker.packet((frame - buffered + 1) / FPS, frame / FPS, FRAME_BYTES, frame % FPS == 0)
    _assert_camera_pace(tracker.stats(3.0))


def test_a_clock_that_leaps_is_measured_by_arrival_until_the_leap_is_past() -> None:
    tracker = _tracker()
    for frame in range(2 * FPS):
        tracker.packet(frame / FPS, 1000 + frame / FPS, FRAME_BYTES, frame % FPS == 0)
    for frame in range(2 * FPS, 4 * FPS):  # the camera restarted its clock at zero
        tracker.packet(frame / FPS, frame / FPS - 2, FRAME_BYTES, frame % FPS == 0)
    during = tracker.stats(4.0)
    assert during is not None and during.fps == pytest.approx(FPS, rel=0.02)
    for frame in range(4 * FPS, 10 * FPS):
        tracker.packet(frame / FPS, frame / FPS - 2, FRAME_BYTES, frame % FPS == 0)
    after = tracker.stats(10.0)
    assert after is not None and after.fps == pytest.approx(FPS, rel=0.02)


@pytest.mark.parametrize("stamp", [0.0, 5.0], ids=["zero", "frozen"])
def test_a_camera_that_stamps_nothing_useful_is_measured_by_arrival(stamp: float) -> None:
    tracker = _tracker()
    for frame in range(3 * FPS):
        tracker.packet(frame / FPS, stamp, FRAME_BYTES, frame % FPS == 0)
    _assert_camera_pace(tracker.stats(3.0))


def test_a_silent_stream_has_no_rate() -> None:
    tracker = _tracker()
    for frame in range(FPS):
        tracker.packet(frame / FPS, frame / FPS, FRAME_BYTES, frame == 0)
    stats = tracker.stats(1.0 + 6.0)
    assert stats is not None and (stats.fps, stats.bitrate_kbps) == (0.0, 0.0)


def test_a_camera_known_to_be_down_has_no_rate_at_once_but_keeps_its_format() -> None:
    tracker = _tracker()
    for frame in range(2 * FPS):
        tracker.packet(frame / FPS, frame / FPS, FRAME_BYTES, frame % FPS == 0)
    live = tracker.stats(2.0)
    dark = tracker.stats(2.0, delivering=False)
    assert live is not None and live.fps == pytest.approx(FPS, rel=0.02)
    assert dark is not None and (dark.fps, dark.bitrate_kbps) == (0.0, 0.0)
    assert (dark.codec, dark.width, dark.height, dark.gop) == ("h264", 1920, 1080, FPS)
