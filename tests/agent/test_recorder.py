"""The segment writer on local media: cut on keyframes, rebased, indexed, crash-safe."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.index import RecordingIndex
from agent.stats import StreamFormat, StreamStatsTracker
from agent.storage import reconcile
from tests.agent.helpers import T0, ffprobe, ffprobe_duration, record_file

REPO = Path(__file__).resolve().parents[2]


def test_segments_are_cut_rebased_and_match_the_index(media_dir: Path, tmp_path: Path) -> None:
    index = RecordingIndex(tmp_path / "index.sqlite", tmp_path)
    record_file(media_dir / "h264.mp4", index, tmp_path, segment_seconds=5)
    segments = index.all_segments()
    assert [round(s.duration_s) for s in segments] == [5, 5, 2]
    assert segments[0].start == T0
    assert segments[0].path == tmp_path / "rec/slot-01/2026-09-01/07/20260901T073000Z.mp4"
    for seg in segments:
        assert not seg.open
        assert seg.bytes == seg.path.stat().st_size
        info = ffprobe(seg.path)
        assert abs(float(info["format"]["duration"]) - seg.duration_s) < 1.0
        video = info["streams"][0]
        assert video["codec_name"] == "h264"
        assert float(video.get("start_time", 0)) == pytest.approx(0, abs=0.05)
    assert segments[1].start == segments[0].end  # back to back, no gap invented


def test_hevc_is_recorded_as_hevc_and_g711_audio_is_dropped(
    media_dir: Path, tmp_path: Path
) -> None:
    index = RecordingIndex(tmp_path / "index.sqlite", tmp_path)
    record_file(media_dir / "hevc.mkv", index, tmp_path, segment_seconds=60)
    (segment,) = index.all_segments()
    assert segment.codec == "hevc"
    streams = ffprobe(segment.path)["streams"]
    assert [(s["codec_name"], s["codec_tag_string"]) for s in streams] == [("hevc", "hvc1")]
    assert abs(ffprobe_duration(segment.path) - segment.duration_s) < 1.0


def test_hevc_stream_is_flagged_not_browser_playable() -> None:
    tracker = StreamStatsTracker()
    tracker.connected(StreamFormat("hevc", 1920, 1080, "pcm_mulaw"))
    for frame in range(50):
        tracker.packet(frame / 25, frame / 25, 10_000, frame % 25 == 0)
    stats = tracker.stats(2.0)
    assert stats is not None
    assert (stats.codec, stats.hd, stats.browser_playable) == ("hevc", True, False)
    assert stats.gop == 25
    assert stats.fps == pytest.approx(25, rel=0.05)
    assert stats.bitrate_kbps == pytest.approx(2000, rel=0.1)


@pytest.mark.fault
@pytest.mark.timeout(60)
def test_sigkill_loses_at_most_the_last_fragment(media_dir: Path, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.agent.recorder_child", str(tmp_path),
         str(media_dir / "h264.mp4")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "recording"
        subprocess.run(["sleep", "4"], check=True)  # ~4 s of live recording
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    index = RecordingIndex(tmp_path / "index.sqlite", tmp_path)
    (row,) = index.all_segments()
    assert row.open  # the crash left the row open
    played = ffprobe_duration(row.path)  # the killed file plays
    assert played >= 2.0  # at most the fragment being built (1 s GOP) is lost
    report = reconcile(index, tmp_path, repair_open=True)
    assert report.repaired_rows == 1
    (fixed,) = index.all_segments()
    assert not fixed.open
    assert abs(fixed.duration_s - played) < 1.0
