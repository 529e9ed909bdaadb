"""The little media a simulated box hands out: one JPEG per slot and one short MP4 clip.

Both are made once per process (the JPEGs with OpenCV, the clip with PyAV) and reused by every
box, so ten thousand boxes cost sixteen pictures and one clip.
"""

from __future__ import annotations

import io
import threading
from fractions import Fraction

__all__ = ["CLIP_SECONDS", "SNAPSHOT_SIZE", "clip_mp4", "slot_jpeg"]

SNAPSHOT_SIZE = (640, 360)
CLIP_SECONDS = 3.0
_CLIP_SIZE = (320, 180)
_CLIP_FPS = 25

_lock = threading.Lock()
_jpegs: dict[int, bytes] = {}
_clip: bytes | None = None


def slot_jpeg(slot: int, label: str) -> bytes:
    """A 640x360 JPEG of a test picture naming the slot (made on first use, then cached)."""
    with _lock:
        cached = _jpegs.get(slot)
        if cached is None:
            cached = _jpegs[slot] = _make_jpeg(slot, label)
        return cached


def clip_mp4() -> bytes:
    """A 3-second 320x180 H.264 MP4 (made on first use, then cached)."""
    global _clip
    with _lock:
        if _clip is None:
            _clip = _make_clip()
        return _clip


def _make_jpeg(slot: int, label: str) -> bytes:
    import cv2
    import numpy as np

    width, height = SNAPSHOT_SIZE
    x = np.linspace(0, 255, width, dtype=np.uint8)
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    picture[:, :, 0] = x
    picture[:, :, 1] = (slot * 37) % 256
    picture[:, :, 2] = x[::-1]
    cv2.rectangle(picture, (0, height - 60), (width, height), (30, 30, 30), thickness=-1)
    cv2.putText(
        picture,
        f"{slot:02d} {label}"[:40],
        (12, height - 22),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.8,
        (255, 255, 255),
        2,
    )
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("OpenCV could not encode the snapshot JPEG")
    return bytes(data.tobytes())


def _make_clip() -> bytes:
    import av
    import numpy as np

    out = io.BytesIO()
    width, height = _CLIP_SIZE
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=_CLIP_FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, _CLIP_FPS)
        frames = int(CLIP_SECONDS * _CLIP_FPS)
        for index in range(frames):
            picture = np.full((height, width, 3), 40, dtype=np.uint8)
            left = (index * 8) % (width - 40)
            picture[60:120, left : left + 40] = (220, 180, 40)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
