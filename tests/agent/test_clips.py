"""Clip export and recording search over real segment files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.clips import export_clip, search
from agent.index import RecordingIndex
from agent.interfaces import CommandFailed
from tests.agent.helpers import T0, ffprobe, record_file

LATER = T0 + timedelta(seconds=20)  # the second recording starts 8 s after the first ends


@pytest.fixture
def index(media_dir: Path, tmp_path: Path) -> RecordingIndex:
    index = RecordingIndex(tmp_path / "index.sqlite", tmp_path)
    record_file(media_dir / "h264.mp4", index, tmp_path, segment_seconds=5, start=T0)
    record_file(media_dir / "h264.mp4", index, tmp_path, segment_seconds=5, start=LATER)
    index.add_gap(1, T0 + timedelta(seconds=12), LATER, "camera offline: refused")
    return index


def test_clip_spanning_segments_plays_and_reports_the_gap(
    index: RecordingIndex, tmp_path: Path
) -> None:
    progress: list[float] = []
    destination = tmp_path / "out" / "clip.mp4"
    result = export_clip(
        index, 1, T0 + timedelta(seconds=3), LATER + timedelta(seconds=7), destination,
        progress=progress.append, cancelled=lambda: False,
    )  # fmt: skip
    info = ffprobe(destination)
    assert info["streams"][0]["codec_name"] == "h264"
    played = float(info["format"]["duration"])
    # 3 s .. 27 s of recording time (from the keyframe at 3 s), the 8 s hole included
    assert played == pytest.approx(24, abs=1.0)
    assert result.duration_s == pytest.approx(played, abs=1.0)
    assert result.bytes == destination.stat().st_size
    (gap,) = result.gaps
    assert (gap.start, gap.end, gap.reason) == (
        T0 + timedelta(seconds=12),
        LATER,
        "camera offline: refused",
    )
    assert progress[-1] == 1.0
    assert not list(destination.parent.glob("*.part"))


def test_clip_of_nothing_fails_clearly(index: RecordingIndex, tmp_path: Path) -> None:
    with pytest.raises(CommandFailed) as failure:
        export_clip(index, 1, T0 - timedelta(hours=2), T0 - timedelta(hours=1), tmp_path / "x.mp4",
                    progress=lambda _: None, cancelled=lambda: False)  # fmt: skip
    assert "nothing recorded" in failure.value.message


def test_cancelled_export_leaves_no_file(index: RecordingIndex, tmp_path: Path) -> None:
    destination = tmp_path / "clip.mp4"
    with pytest.raises(CommandFailed):
        export_clip(index, 1, T0, LATER + timedelta(seconds=10), destination,
                    progress=lambda _: None, cancelled=lambda: True)  # fmt: skip
    assert not destination.exists() and not list(tmp_path.glob("*.part"))


def test_search_returns_segments_and_gaps_in_range(index: RecordingIndex) -> None:
    result = search(index, 1, T0 + timedelta(seconds=6), T0 + timedelta(seconds=26))
    assert [s.start for s in result.segments] == [
        T0 + timedelta(seconds=5), T0 + timedelta(seconds=10), LATER, LATER + timedelta(seconds=5),
    ]  # fmt: skip
    assert [g.reason for g in result.gaps] == ["camera offline: refused"]
    assert not result.truncated
    assert search(index, 2, T0, LATER).segments == []
