"""Test doubles for the link tests.

`ScriptedPipeline` is a TEST DOUBLE of `agent.interfaces.Pipeline`: cameras whose state the
test sets, a JPEG made with OpenCV, a clip export that writes scripted bytes. It lets the link
be tested against a real broker and real HTTP servers without video.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from agent.interfaces import CameraView, CommandFailed, ConfigRejected, Snapshot
from protocol import (
    BoxConfig,
    CameraCapabilities,
    CameraInventory,
    CameraState,
    ClipResult,
    CommandErrorCode,
    ConfigIssue,
    ProbeResult,
    RecordingSearchResult,
    SegmentInfo,
)


def jpeg(width: int = 64, height: int = 48, noise: bool = False) -> bytes:
    """A real JPEG of the given size."""
    rng = np.random.default_rng(1)
    if noise:
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    else:
        image = np.full((height, width, 3), 128, dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(data.tobytes())


class ScriptedPipeline:
    """TEST DOUBLE of Pipeline: scripted cameras and results, no video."""

    def __init__(self, slots: list[int] | None = None, *, ptz: bool = True) -> None:
        self.lock = threading.Lock()
        t0 = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)
        self.views = {
            s: CameraView(slot=s, state=CameraState.ONLINE, since=t0, recording=True)
            for s in (slots or [1, 2])
        }
        self.ptz = ptz
        self.applied: list[BoxConfig] = []
        self.reject_next: list[ConfigIssue] | None = None
        self.snapshot_jpeg = jpeg()
        self.clip_bytes = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4000
        self.export_calls = 0
        self.export_hold = threading.Event()  # cleared: an export waits (or is cancelled)
        self.export_hold.set()

    def set_state(self, slot: int, state: CameraState, error: str | None = None) -> None:
        with self.lock:
            self.views[slot] = CameraView(
                slot=slot, state=state, since=datetime.now(UTC), error=error
            )

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def apply(self, config: BoxConfig) -> None:
        if self.reject_next is not None:
            issues, self.reject_next = self.reject_next, None
            raise ConfigRejected(issues)
        self.applied.append(config)

    def cameras(self) -> list[CameraView]:
        with self.lock:
            return [self.views[s] for s in sorted(self.views)]

    def inventory(self) -> list[CameraInventory]:
        return [
            CameraInventory(
                slot=s, name=f"Slot {s}", capabilities=CameraCapabilities(ptz=self.ptz, onvif=True)
            )
            for s in sorted(self.views)
        ]

    def snapshot(self, slot: int, *, sub_stream: bool = False, timeout: float = 10.0) -> Snapshot:
        view = self.views.get(slot)
        if view is None or view.state is not CameraState.ONLINE:
            raise CommandFailed(CommandErrorCode.CAMERA_OFFLINE, f"camera {slot} is offline")
        image = cv2.imdecode(np.frombuffer(self.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        return Snapshot(
            slot=slot,
            jpeg=self.snapshot_jpeg,
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            taken_at=datetime.now(UTC),
        )

    def search(self, slot: int, start: datetime, end: datetime) -> RecordingSearchResult:
        return RecordingSearchResult(
            slot=slot, segments=[SegmentInfo(start=start, end=end, bytes=1000)]
        )

    def export_clip(
        self,
        slot: int,
        start: datetime,
        end: datetime,
        destination: Path,
        *,
        progress: Callable[[float], None],
        cancelled: Callable[[], bool],
    ) -> ClipResult:
        self.export_calls += 1
        destination.write_bytes(self.clip_bytes)
        progress(0.5)
        while not self.export_hold.wait(0.05):  # a long export, until released or cancelled
            if cancelled():
                return ClipResult(bytes=0, duration_s=0)
        progress(1.0)
        return ClipResult(bytes=len(self.clip_bytes), duration_s=(end - start).total_seconds())

    def probe(self, slot: int, *, timeout: float = 10.0) -> ProbeResult:
        return ProbeResult(slot=slot, reachable=True, detail="scripted")
