"""The reconcile sweep: index and files agree again, both ways."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent.index import RecordingIndex
from agent.recorder import segment_path
from agent.storage import reconcile
from tests.agent.helpers import T0, ffprobe_duration, record_file


def test_files_and_rows_are_reconciled_both_ways(media_dir: Path, tmp_path: Path) -> None:
    index = RecordingIndex(tmp_path / "index.sqlite", tmp_path)
    record_file(media_dir / "h264.mp4", index, tmp_path, segment_seconds=5)
    first, second, third = index.all_segments()
    # a row without a file: the file was deleted behind the agent's back
    first.path.unlink()
    # a file without a row: the index lost it
    index.delete_segments([second.id])
    # a file that does not play
    junk = segment_path(tmp_path, 2, T0 + timedelta(hours=1))
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"garbage")
    report = reconcile(index, tmp_path)
    assert report.dropped_rows == 1
    assert report.adopted == [second.path]
    assert report.removed == [junk]
    assert not junk.exists()
    rows = index.all_segments()
    assert [r.path for r in rows] == [second.path, third.path]
    adopted = rows[0]
    assert adopted.start == second.start and not adopted.open
    assert abs(adopted.duration_s - ffprobe_duration(second.path)) < 1.0
    (gap,) = index.gaps(1, T0, T0 + timedelta(minutes=1))
    assert (gap.start, gap.end, gap.reason) == (first.start, first.end, "segment file missing")
    # a second sweep finds nothing to do
    again = reconcile(index, tmp_path)
    assert (again.adopted, again.removed, again.dropped_rows) == ([], [], 0)
