"""The SQLite recording index: segments, gaps, completeness, and surviving corruption."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.index import RecordingIndex
from tests.agent.helpers import T0


def _index(tmp_path: Path) -> RecordingIndex:
    return RecordingIndex(tmp_path / "index.sqlite", tmp_path)


def test_segment_rows_open_grow_and_close(tmp_path: Path) -> None:
    index = _index(tmp_path)
    sid = index.open_segment(3, T0, tmp_path / "rec/a.mp4", "h264")
    (row,) = index.segments(3, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert row.open and row.start == row.end == T0
    index.update_segment(sid, T0 + timedelta(seconds=30), 1234, closed=True)
    (row,) = index.all_segments()
    assert (row.open, row.duration_s, row.bytes, row.path) == (
        False,
        30,
        1234,
        tmp_path / "rec/a.mp4",
    )
    assert index.last_end(3) == T0 + timedelta(seconds=30)
    assert index.last_end(4) is None


def test_completeness_counts_recorded_over_scheduled_seconds(tmp_path: Path) -> None:
    index = _index(tmp_path)
    day = datetime(2026, 9, 1, tzinfo=UTC)
    # 18 h recorded in two segments (with an overlap counted once), 6 h missing
    index.add_segment(1, day, day + timedelta(hours=12), tmp_path / "a.mp4", 1, "h264")
    index.add_segment(
        1, day + timedelta(hours=11), day + timedelta(hours=18), tmp_path / "b.mp4", 1, "h264"
    )
    next_day = day + timedelta(days=1)
    assert index.completeness(1, date(2026, 9, 1), now=next_day) == 18 / 24
    # today so far: scheduled time ends now
    assert index.completeness(1, date(2026, 9, 1), now=day + timedelta(hours=12)) == 1.0
    # a camera configured at 06:00 is only due from then
    since = day + timedelta(hours=6)
    assert index.completeness(1, date(2026, 9, 1), now=next_day, scheduled_from=since) == 12 / 18
    assert index.completeness(2, date(2026, 9, 1), now=next_day) == 0.0
    assert index.completeness(1, date(2026, 9, 2), now=next_day) is None


def test_gaps_are_found_by_range(tmp_path: Path) -> None:
    index = _index(tmp_path)
    index.add_gap(1, T0, T0 + timedelta(minutes=2), "camera offline: refused")
    index.add_gap(2, T0, T0 + timedelta(minutes=2), "other camera")
    (gap,) = index.gaps(1, T0 + timedelta(minutes=1), T0 + timedelta(hours=1))
    assert gap.reason == "camera offline: refused"
    assert index.gaps(1, T0 + timedelta(minutes=3), T0 + timedelta(hours=1)) == []


def test_a_corrupt_index_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "index.sqlite").write_bytes(b"this is not a database" * 100)
    index = _index(tmp_path)
    assert index.recovered_from_corruption is not None
    assert index.all_segments() == []
    assert list(tmp_path.glob("index.sqlite.corrupt-*"))
