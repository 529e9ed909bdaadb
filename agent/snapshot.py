"""Snapshots: the worker hands the next keyframe's picture to whoever asked, as a JPEG."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import av
import cv2

from agent.keyframes import KeyframeDecoder
from agent.source import SourceError, open_source

__all__ = ["SnapshotRequest", "encode_jpeg", "sub_stream_frame"]

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


def sub_stream_frame(url: str, timeout: float) -> Any:
    """Open a (sub) stream on its own and decode its first keyframe; SourceError otherwise."""
    deadline = time.monotonic() + timeout
    source = open_source(url, open_timeout_s=timeout, read_timeout_s=min(5.0, timeout))
    try:
        decoder = KeyframeDecoder(source.video)
        for packet in source.container.demux(source.video):
            if packet.is_keyframe and packet.size:
                frame = decoder.decode(packet)
                if frame is not None:
                    return frame
            if time.monotonic() > deadline:
                break
    except av.FFmpegError as exc:
        raise SourceError(f"reading the sub stream failed: {exc}") from exc
    finally:
        source.close()
    raise SourceError(f"no keyframe within {timeout:.0f} s")
