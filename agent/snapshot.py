"""Snapshots: the worker hands the next keyframe's picture to whoever asked, as a JPEG."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import cv2

__all__ = ["SnapshotRequest", "encode_jpeg"]

JPEG_QUALITY = 85


def encode_jpeg(frame: Any, quality: int = JPEG_QUALITY) -> bytes:
    """A decoded av.VideoFrame as JPEG bytes (OpenCV; no scaling)."""
    image = frame.to_ndarray(format="bgr24")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer.tobytes())


class SnapshotRequest:
    """One pending snapshot: filled by the camera worker at its next decodable keyframe."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.frame: Any = None
        self.taken_at: datetime | None = None

    def fulfil(self, frame: Any, taken_at: datetime) -> None:
        self.frame = frame
        self.taken_at = taken_at
        self._done.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)
