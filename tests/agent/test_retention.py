"""Retention by age and by disk reserve, with a clock and a disk the test controls."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from agent.index import RecordingIndex
from agent.recorder import segment_path
from agent.retention import Retention
from protocol import RecordingConfig
from tests.agent.helpers import T0, FakeDisk, ManualClock, RecordingSink

MB = 1024 * 1024


def _fill(index: RecordingIndex, root: Path, slots: list[int], hours: int) -> None:
    """One 1 MB, one-hour segment per camera and hour, starting at T0."""
    for hour in range(hours):
        for slot in slots:
            start = T0 + timedelta(hours=hour, minutes=slot)
            path = segment_path(root, slot, start)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\0" * MB)
            index.add_segment(slot, start, start + timedelta(hours=1), path, MB, "h264")


def _retention(
    tmp_path: Path, clock: ManualClock, disk: FakeDisk, sink: RecordingSink, **cfg: float
) -> Retention:
    index = RecordingIndex(tmp_path / "index.sqlite", tmp_path)
    config = RecordingConfig.model_validate(cfg)
    return Retention(index, tmp_path, sink, lambda: config, clock=clock, usage=disk)


def test_age_deletes_only_footage_older_than_retention(tmp_path: Path) -> None:
    clock = ManualClock(T0 + timedelta(days=1, hours=2))
    sink = RecordingSink()
    retention = _retention(
        tmp_path, clock, FakeDisk(tmp_path, 1000 * MB, 0), sink, retention_days=1
    )
    _fill(retention.index, tmp_path, [1, 2], 4)
    outcome = retention.run_once()
    # only segments that ended more than a day ago go: hour 0 of both cameras
    assert outcome.by_age == 2 and outcome.by_reserve == 0
    assert len(retention.index.all_segments()) == 6
    (event,) = sink.of("retention_purge")
    assert (event.reason, event.segments, event.freed_bytes) == ("age", 2, 2 * MB)
    assert event.oldest_kept == T0 + timedelta(hours=1, minutes=1)
    assert len(list(tmp_path.rglob("*.mp4"))) == 6
    assert sink.of("disk_pressure") == []


def test_reserve_deletes_oldest_first_across_cameras(tmp_path: Path) -> None:
    sink = RecordingSink()
    # 100 MB disk, 82 MB used by other things + 12 MB of footage: 6 % free, reserve 10 %
    disk = FakeDisk(tmp_path, 100 * MB, 82 * MB)
    retention = _retention(tmp_path, ManualClock(T0 + timedelta(hours=7)), disk, sink,
                           min_free_percent=10, emergency_free_percent=3)  # fmt: skip
    _fill(retention.index, tmp_path, [1, 2, 3], 4)
    outcome = retention.run_once()
    # 4 MB must go: hour 0 of cameras 1, 2 and 3, then hour 1 of camera 1; nothing more
    assert outcome.by_reserve == 4 and not outcome.emergency
    assert outcome.free_percent == 10
    kept = retention.index.all_segments()
    assert len(kept) == 8
    assert min(s.start for s in kept) == T0 + timedelta(hours=1, minutes=2)
    (event,) = sink.of("retention_purge")
    assert event.reason == "reserve"
    assert sink.of("disk_pressure") == []  # the reserve was restored


def test_emergency_and_pressure_when_the_reserve_cannot_be_restored(tmp_path: Path) -> None:
    sink = RecordingSink()
    disk = FakeDisk(tmp_path, 100 * MB, 98 * MB)  # other data fills the disk
    retention = _retention(tmp_path, ManualClock(T0 + timedelta(hours=3)), disk, sink)
    _fill(retention.index, tmp_path, [1], 1)
    outcome = retention.run_once()
    assert outcome.emergency and retention.index.all_segments() == []
    assert sink.of("retention_purge")[0].reason == "emergency"
    raised = sink.wait_for("disk_pressure", 1, state="raised")
    assert raised.threshold_percent == 10
    disk.base_used = 50 * MB  # someone cleaned up
    retention.run_once()
    sink.wait_for("disk_pressure", 1, state="cleared")


def test_the_segment_being_written_is_never_deleted(tmp_path: Path) -> None:
    sink = RecordingSink()
    disk = FakeDisk(tmp_path, 100 * MB, 99 * MB)
    retention = _retention(tmp_path, ManualClock(T0 + timedelta(hours=1)), disk, sink)
    _fill(retention.index, tmp_path, [1], 1)
    active = retention.index.all_segments()[0].path
    retention._active = lambda: [active]
    retention.run_once()
    assert active.exists()
