"""The recording store on disk: free space, writability, and the index/file reconcile sweep.

The sweep makes index and files agree after a crash, a manual deletion or a corrupt index:
a file without a row is adopted (when it plays) or removed (when it does not); a row without
a file is dropped and its time becomes a gap; a row left open by a crash gets its real end.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import av

from agent.index import RecordingIndex
from agent.roles import PeriodicRole

__all__ = [
    "DiskUsageFn",
    "ReconcileReport",
    "StorageWatch",
    "check_writable",
    "disk_usage",
    "free_percent",
    "probe_segment",
    "reconcile",
]

log = logging.getLogger(__name__)

DiskUsageFn = Callable[[Path], "shutil._ntuple_diskusage"]


def disk_usage(path: Path) -> shutil._ntuple_diskusage:
    """shutil.disk_usage of the filesystem holding `path` (injectable for tests)."""
    return shutil.disk_usage(path)


def free_percent(usage: shutil._ntuple_diskusage) -> float:
    return 100.0 * usage.free / usage.total if usage.total else 0.0


def check_writable(directory: Path) -> str | None:
    """None if a file can be created in `directory`, else why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-check-{uuid.uuid4().hex}"
        with open(probe, "wb") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        return f"{directory}: {exc.strerror or exc}"
    return None


@dataclass(frozen=True)
class SegmentProbe:
    """What a segment file holds, read back from the file itself."""

    codec: str
    duration_s: float
    bytes: int


def probe_segment(path: Path) -> SegmentProbe | None:
    """Read a segment's packets (no decoding); None if it holds no playable video."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            video = container.streams.video[0]
            first: int | None = None
            last = 0
            step = 0
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                pts = int(packet.pts)
                if first is None:
                    first = pts
                elif pts > last:
                    step = pts - last
                last = max(last, pts)
            if first is None or video.time_base is None:
                return None
            duration = float((last - first + step) * video.time_base)
            return SegmentProbe(str(video.codec_context.name), duration, path.stat().st_size)
    except (OSError, av.FFmpegError) as exc:
        log.info("segment %s does not play: %s", path, exc)
        return None


@dataclass
class ReconcileReport:
    """What one sweep changed."""

    adopted: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    dropped_rows: int = 0
    repaired_rows: int = 0


def _start_from_name(path: Path) -> datetime | None:
    stem = path.stem.split("-")[0]
    try:
        return datetime.strptime(stem + "+0000", "%Y%m%dT%H%M%SZ%z")
    except ValueError:
        return None


def _slot_from_path(path: Path, rec_root: Path) -> int | None:
    try:
        part = path.relative_to(rec_root).parts[0]
        return int(part.removeprefix("slot-"))
    except (ValueError, IndexError):
        return None


def reconcile(
    index: RecordingIndex, root: Path, *, active: Collection[Path] = (), repair_open: bool = False
) -> ReconcileReport:
    """Make index and files agree, both ways; `active` files are being written and left alone.

    `repair_open` (at start-up, when nothing is being written) re-reads rows a crash left open.
    """
    report = ReconcileReport()
    rec_root = root / "rec"
    active_set = {Path(p) for p in active}
    rows = {seg.path: seg for seg in index.all_segments()}
    for seg in rows.values():
        if seg.path in active_set:
            continue
        if not seg.path.exists():
            index.delete_segments([seg.id])
            index.add_gap(seg.slot, seg.start, seg.end, "segment file missing")
            report.dropped_rows += 1
            log.warning("slot %s: segment %s missing on disk; row dropped", seg.slot, seg.path)
        elif seg.open and repair_open:
            probe = probe_segment(seg.path)
            if probe is None:
                index.delete_segments([seg.id])
                _remove(seg.path, report)
                continue
            end = seg.start + timedelta(seconds=probe.duration_s)
            index.update_segment(seg.id, end, probe.bytes, closed=True)
            report.repaired_rows += 1
    if rec_root.is_dir():
        for path in sorted(rec_root.rglob("*.mp4")):
            if path in rows or path in active_set:
                continue
            slot = _slot_from_path(path, rec_root)
            start = _start_from_name(path)
            probe = probe_segment(path) if slot is not None and start is not None else None
            if slot is None or start is None or probe is None:
                _remove(path, report)
                continue
            end = start + timedelta(seconds=probe.duration_s)
            index.add_segment(slot, start, end, path, probe.bytes, probe.codec)
            report.adopted.append(path)
            log.info("slot %s: adopted segment %s (%.1f s)", slot, path.name, probe.duration_s)
    return report


def _remove(path: Path, report: ReconcileReport) -> None:
    try:
        path.unlink()
        report.removed.append(path)
        log.warning("removed unplayable segment file %s", path)
    except OSError as exc:
        log.error("cannot remove %s: %s", path, exc.strerror)


class StorageWatch(PeriodicRole):
    """Re-checks an unusable store every `interval_s`; tells `on_restored` when it works again."""

    def __init__(
        self, directory: Path, on_restored: Callable[[], None], *, interval_s: float = 30.0
    ) -> None:
        super().__init__("storage-watch", interval_s, join_timeout_s=5.0)
        self.directory = directory
        self._on_restored = on_restored
        self._broken = threading.Event()

    def broken(self) -> None:
        """Something failed to write; start checking."""
        self._broken.set()

    def tick(self) -> None:
        if not self._broken.is_set():
            return
        try:
            if check_writable(self.directory) is None:
                self._broken.clear()
                self._on_restored()
        except Exception:
            log.exception("storage check of %s failed", self.directory)
