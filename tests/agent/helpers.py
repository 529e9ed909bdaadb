"""Test helpers: an EventSink that keeps what it is told, media probes, a fake disk."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from shutil import _ntuple_diskusage
from typing import Any

import av

from agent.index import RecordingIndex
from agent.recorder import SegmentRecorder
from protocol import EventBody


class RecordingSink:
    """The EventSink contract, keeping every event and change notice for the test to read."""

    def __init__(self) -> None:
        self.events: list[tuple[EventBody, datetime | None]] = []
        self.changed: list[int] = []
        self._lock = threading.Lock()

    def event(self, body: EventBody, occurred_at: datetime | None = None) -> None:
        with self._lock:
            self.events.append((body, occurred_at))

    def camera_changed(self, slot: int) -> None:
        with self._lock:
            self.changed.append(slot)

    def of(self, type_: str, **fields: Any) -> list[Any]:
        with self._lock:
            bodies = [b for b, _ in self.events]
        return [
            b for b in bodies
            if b.type == type_ and all(getattr(b, k) == v for k, v in fields.items())
        ]  # fmt: skip

    def wait_for(self, type_: str, timeout: float, **fields: Any) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(type_, **fields)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no {type_} {fields} within {timeout} s; got {self.events}")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file: format and streams (raises if it cannot read it)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def ffprobe_duration(path: Path) -> float:
    return float(ffprobe(path)["format"]["duration"])


T0 = datetime(2026, 9, 1, 7, 30, tzinfo=UTC)


def record_file(
    source: Path,
    index: RecordingIndex,
    root: Path,
    *,
    slot: int = 1,
    start: datetime = T0,
    segment_seconds: float = 5,
) -> SegmentRecorder:
    """Record a local media file as if its packets came from a camera starting at `start`."""
    recorder = SegmentRecorder(slot, root, index, segment_seconds)
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        recorder.begin(video, start)
        for packet in container.demux():
            if packet.stream.type == "video":
                recorder.write(packet)
    recorder.finish()
    return recorder


class FakeDisk:
    """Test double for shutil.disk_usage: `used` = a fixed base plus the files under `root`."""

    def __init__(self, root: Path, total: int, base_used: int) -> None:
        self.root = root
        self.total = total
        self.base_used = base_used

    def __call__(self, _path: Path) -> _ntuple_diskusage:
        files = sum(p.stat().st_size for p in self.root.rglob("*.mp4"))
        used = self.base_used + files
        return _ntuple_diskusage(self.total, used, max(0, self.total - used))


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
