"""Pre-encoded H.264 and H.265 clips for the simulated cameras.

The camera server only loops these files, so sixteen cameras cost almost no CPU: encoding
happens once, here, and the result is cached. Every clip has the same timing (25 fps, one
IDR frame with SPS/PPS every 25 frames, no B-frames, the same length), so the server can
switch a camera from one clip to another on any keyframe boundary.

The cache holds one Annex-B file per clip and a manifest that tells the server which file
shows which picture on which stream, in which codec. H.265 cameras show the clean picture
only (their faults fall back to it, except the ones that need no other clip); that is enough
to prove an H.265 stream is recorded and checked like an H.264 one.

``RECIPE_VERSION`` is part of every file name: change it whenever a recipe changes: the next
run makes fresh clips and drops the older ones.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.video.stream import VideoStream

__all__ = [
    "CLIPS",
    "CLIP_FRAMES",
    "CODECS",
    "FPS",
    "GOP",
    "PICTURES",
    "RECIPE_VERSION",
    "ClipSpec",
    "default_cache_dir",
    "ensure_clips",
    "manifest_path",
]

logger = logging.getLogger(__name__)

RECIPE_VERSION = 3
FPS = 25
GOP = 25  # one keyframe per second
CLIP_SECONDS = 8
CLIP_FRAMES = FPS * CLIP_SECONDS

CODECS = ("h264", "hevc")
"""What a camera can send; ``h264`` is the default."""
PICTURES = ("clean", "black", "frozen", "blur", "cover", "lowres")
"""What a camera can show; the server maps each fault to one of these."""

Plane = npt.NDArray[np.uint8]
_VERSIONED = re.compile(r"[a-z-]+-v(\d+)\.(?:h264|h265|json)")
_SUFFIX = {"h264": "h264", "hevc": "h265"}


@dataclass(frozen=True)
class ClipSpec:
    """One clip: which picture, on which stream, at which size and bit rate, in which codec."""

    stream: str  # "main" or "sub"
    picture: str
    width: int
    height: int
    bit_rate: int
    codec: str = "h264"

    @property
    def name(self) -> str:
        name = self.picture if self.stream == "main" else f"sub-{self.picture}"
        return name if self.codec == "h264" else f"{self.codec}-{name}"

    def file_name(self) -> str:
        return f"{self.name}-v{RECIPE_VERSION}.{_SUFFIX[self.codec]}"


_MAIN = (1920, 1080, 4_000_000)
_SUB = (640, 360, 512_000)

CLIPS: tuple[ClipSpec, ...] = (
    ClipSpec("main", "clean", *_MAIN),
    ClipSpec("main", "black", *_MAIN),
    ClipSpec("main", "frozen", *_MAIN),
    ClipSpec("main", "blur", *_MAIN),
    ClipSpec("main", "cover", *_MAIN),
    ClipSpec("main", "lowres", 640, 360, 1_000_000),
    # The sub stream shows the same faults, so a checker that watches it sees them too.
    # A "lowres" main stream leaves the sub stream as it was.
    ClipSpec("sub", "clean", *_SUB),
    ClipSpec("sub", "black", *_SUB),
    ClipSpec("sub", "frozen", *_SUB),
    ClipSpec("sub", "blur", *_SUB),
    ClipSpec("sub", "cover", *_SUB),
    # H.265 cameras: about half the bit rate of H.264 for the same picture, as cameras do.
    ClipSpec("main", "clean", 1920, 1080, 2_000_000, "hevc"),
    ClipSpec("sub", "clean", 640, 360, 256_000, "hevc"),
)


def default_cache_dir() -> Path:
    """``$SCHOOLCAM_CACHE_DIR`` or ``~/.cache/schoolcam/clips``: clips outlive a checkout."""
    configured = os.environ.get("SCHOOLCAM_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "schoolcam" / "clips"


def manifest_path(cache_dir: Path) -> Path:
    return cache_dir / f"manifest-v{RECIPE_VERSION}.json"


def ensure_clips(cache_dir: Path | None = None) -> Path:
    """Make whatever clips are missing and return the manifest the camera server reads.

    Safe to call from several processes at once: a file lock makes the others wait for the
    first one instead of encoding the same clips in parallel.
    """
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [spec for spec in CLIPS if not (directory / spec.file_name()).is_file()]
        if missing:
            _prune_older_versions(directory)
            started = time.monotonic()
            _encode(directory, missing)
            logger.info(
                "camera clips made",
                extra={
                    "clips": [spec.name for spec in missing],
                    "seconds": round(time.monotonic() - started, 2),
                    "cache_dir": str(directory),
                },
            )
        manifest = manifest_path(directory)
        _write_atomically(manifest, json.dumps(_manifest(), indent=2).encode())
    return manifest


def _prune_older_versions(directory: Path) -> None:
    """Drop clips of older recipes (never newer ones: another checkout may be ahead)."""
    for path in directory.iterdir():
        match = _VERSIONED.fullmatch(path.name)
        if match and int(match.group(1)) < RECIPE_VERSION:
            path.unlink(missing_ok=True)


def _manifest() -> dict[str, Any]:
    """``streams`` holds the H.264 clips (as before H.265 came), ``codecs`` every codec's."""
    codecs: dict[str, dict[str, dict[str, str]]] = {c: {"main": {}, "sub": {}} for c in CODECS}
    for spec in CLIPS:
        codecs[spec.codec][spec.stream][spec.picture] = spec.file_name()
    return {
        "version": RECIPE_VERSION,
        "fps": FPS,
        "gop": GOP,
        "streams": codecs["h264"],
        "codecs": codecs,
    }


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)


def _encode(directory: Path, specs: list[ClipSpec]) -> None:
    """Encode ``specs`` one after the other: a 1080p encoder holds a few hundred MB, and
    drawing a frame again costs far less than the encoding."""
    scene = _Scene(*_MAIN[:2])
    for spec in specs:
        encoder = _Encoder(directory / spec.file_name(), spec)
        try:
            for index in range(CLIP_FRAMES):
                encoder.write(_draw(scene, spec, index))
            encoder.finish()
        finally:
            encoder.discard()


class _Encoder:
    """libx264 or libx265 into a raw Annex-B file, under a temporary name until complete."""

    def __init__(self, path: Path, spec: ClipSpec) -> None:
        self._path = path
        self._partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        self._container = av.open(str(self._partial), mode="w", format=spec.codec)
        encoder = "libx264" if spec.codec == "h264" else "libx265"
        stream = cast(VideoStream, self._container.add_stream(encoder, rate=FPS))
        stream.width = spec.width
        stream.height = spec.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = spec.bit_rate
        stream.codec_context.gop_size = GOP
        stream.codec_context.max_b_frames = 0
        kbit = spec.bit_rate // 1000
        if spec.picture == "frozen":
            # Constant quantiser: every IDR of the still frame decodes to the same picture,
            # as a frozen camera's keyframes do; rate control would refine it GOP by GOP.
            rate = "qp=24"
        else:
            # The VBV keeps the rate near a real camera's.
            rate = f"vbv-maxrate={kbit * 5 // 4}:vbv-bufsize={kbit * 2}"
        stream.options = _x264_options(rate) if spec.codec == "h264" else _x265_options(rate)
        self._stream = stream
        self._index = 0
        self._done = False

    def write(self, planes: Plane) -> None:
        """Encode one frame (packed yuv420p)."""
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = self._index
        self._index += 1
        self._container.mux(self._stream.encode(frame))

    def finish(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()
        os.replace(self._partial, self._path)
        self._done = True

    def discard(self) -> None:
        if not self._done:
            self._container.close()
            self._partial.unlink(missing_ok=True)


def _x264_options(rate: str) -> dict[str, object]:
    """Fixed GOP, SPS/PPS before every IDR: any keyframe is a clean place to join or to
    switch clips. One slice per frame, as cameras send it: RTSP clients then get one packet
    per frame."""
    return {
        "preset": "veryfast",
        "profile": "main",
        "x264-params": (
            f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:repeat-headers=1"
            f":sliced-threads=0:slices=1:threads=2:rc-lookahead=5:{rate}"
        ),
    }


def _x265_options(rate: str) -> dict[str, object]:
    """The libx265 twin of the H.264 recipe: a fixed GOP of IDR frames (closed GOPs), no
    B-frames, VPS/SPS/PPS before every IDR. ``ultrafast``: x265 is several times slower
    than x264, and the clips only need to decode right."""
    return {
        "preset": "ultrafast",
        "x265-params": (
            f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:open-gop=0:repeat-headers=1"
            f":pools=2:frame-threads=1:log-level=error:{rate}"
        ),
    }


def _draw(scene: _Scene, spec: ClipSpec, index: int) -> Plane:
    """Frame ``index`` of ``spec``'s picture as a packed yuv420p array (h*3/2 x w)."""
    if spec.picture == "black":
        return _pack(*_flat(spec.width, spec.height, 16))
    planes = scene.draw(0 if spec.picture == "frozen" else index)
    if (spec.width, spec.height) != (scene.width, scene.height):
        planes = _resize(planes, spec.width, spec.height)
    if spec.picture == "blur":
        # As blurred as 10 pixels at 1080p, at any size.
        planes = _blur(planes, sigma=10 * spec.height / 1080, shrink=4 if spec.height > 720 else 1)
    if spec.picture == "cover":
        planes = _cover(planes, index)
    return _pack(*planes)


Planes = tuple[Plane, Plane, Plane]


class _Scene:
    """A coloured, textured backdrop that pans, with a clock whose hands turn.

    The texture has detail at 4, 16 and 64 pixels so it stays sharp after a checker
    downscales it; the slow hand turns once per clip, so no two keyframes look the same.
    """

    PAN = 4  # pixels per frame, even so the chroma planes pan by whole pixels
    NOISE = 11  # luma levels of sensor noise

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        rng = np.random.default_rng(20240601)
        wide = width + self.PAN * CLIP_FRAMES
        luma = (
            0.45 * _blocks(rng, height, wide, 64)
            + 0.30 * _blocks(rng, height, wide, 16)
            + 0.25 * _blocks(rng, height, wide, 4)
        )
        self._y = (35 + luma * (175 / 255)).astype(np.uint8)
        # A small bank of sensor noise, cycled: real cameras never send two identical
        # frames, and the noise brings the bit rate up to a real camera's.
        self._noise = [
            rng.integers(0, self.NOISE, (height, width), dtype=np.uint8) for _ in range(7)
        ]
        self._u = (78 + _blocks(rng, height // 2, wide // 2, 48) * (100 / 255)).astype(np.uint8)
        self._v = (78 + _blocks(rng, height // 2, wide // 2, 48) * (100 / 255)).astype(np.uint8)

    def draw(self, index: int) -> Planes:
        offset = self.PAN * index
        y = self._y[:, offset : offset + self.width].copy()
        u = self._u[:, offset // 2 : (offset + self.width) // 2].copy()
        v = self._v[:, offset // 2 : (offset + self.width) // 2].copy()
        self._draw_clock(y, u, v, index)
        cv2.add(y, self._noise[index % len(self._noise)], dst=y)
        return y, u, v

    def _draw_clock(self, y: Plane, u: Plane, v: Plane, index: int) -> None:
        radius = self.height // 5
        cx, cy = self.width - radius - 60, radius + 60
        cv2.circle(y, (cx, cy), radius, 225, -1, cv2.LINE_AA)
        cv2.circle(u, (cx // 2, cy // 2), radius // 2, 128, -1)
        cv2.circle(v, (cx // 2, cy // 2), radius // 2, 128, -1)
        for tick in range(12):
            angle = tick * math.pi / 6
            outer = _polar(cx, cy, radius * 0.95, angle)
            inner = _polar(cx, cy, radius * 0.82, angle)
            cv2.line(y, inner, outer, 30, 6, cv2.LINE_AA)
        slow = 2 * math.pi * index / CLIP_FRAMES  # one turn per clip
        fast = 2 * math.pi * index / (FPS * 1.6)  # never at the same place two keyframes apart
        cv2.line(y, (cx, cy), _polar(cx, cy, radius * 0.6, slow), 20, 14, cv2.LINE_AA)
        cv2.line(y, (cx, cy), _polar(cx, cy, radius * 0.85, fast), 60, 5, cv2.LINE_AA)
        label = f"{index // FPS:02d}.{index % FPS:02d}"
        cv2.putText(y, label, (60, 120), cv2.FONT_HERSHEY_SIMPLEX, 3.0, 235, 8, cv2.LINE_AA)


def _blocks(rng: np.random.Generator, height: int, width: int, size: int) -> npt.NDArray[Any]:
    """Random grey blocks of ``size`` pixels: sharp edges at a chosen scale."""
    cells = rng.integers(0, 256, (height // size + 1, width // size + 1), dtype=np.uint8)
    full = np.repeat(np.repeat(cells, size, axis=0), size, axis=1)
    return full[:height, :width].astype(np.float32)


def _polar(cx: int, cy: int, length: float, angle: float) -> tuple[int, int]:
    return int(cx + length * math.sin(angle)), int(cy - length * math.cos(angle))


def _flat(width: int, height: int, luma: int) -> Planes:
    return (
        np.full((height, width), luma, np.uint8),
        np.full((height // 2, width // 2), 128, np.uint8),
        np.full((height // 2, width // 2), 128, np.uint8),
    )


def _resize(planes: Planes, width: int, height: int) -> Planes:
    y, u, v = planes
    half = (width // 2, height // 2)
    return (
        _u8(cv2.resize(y, (width, height), interpolation=cv2.INTER_AREA)),
        _u8(cv2.resize(u, half, interpolation=cv2.INTER_AREA)),
        _u8(cv2.resize(v, half, interpolation=cv2.INTER_AREA)),
    )


def _blur(planes: Planes, *, sigma: float, shrink: int) -> Planes:
    """A heavy Gaussian blur of ``sigma`` luma pixels, done ``shrink`` times smaller to stay
    cheap (a blur that wide loses nothing by working on a smaller image)."""
    y, u, v = planes
    out = []
    for plane, plane_sigma in ((y, sigma), (u, sigma / 2), (v, sigma / 2)):
        height, width = plane.shape
        small = cv2.resize(plane, (width // shrink, height // shrink), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), plane_sigma / shrink)
        out.append(_u8(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)))
    return out[0], out[1], out[2]


def _cover(planes: Planes, index: int) -> Planes:
    """A dark cloth over most of the lens; a little shaded, out-of-focus light leaks past
    its edge, which drifts slowly as a hand would."""
    y, u, v = (plane.copy() for plane in planes)
    height, width = y.shape
    edge = int(width * (0.94 + 0.01 * math.sin(2 * math.pi * index / CLIP_FRAMES))) // 2 * 2
    y[:, :edge] = _cloth(height, width)[:, :edge]
    u[:, : edge // 2] = 122
    v[:, : edge // 2] = 136
    sigma = width / 200
    leak = y[:, edge:].astype(np.float32) * 0.35 + 10
    y[:, edge:] = cv2.GaussianBlur(leak, (0, 0), sigma).astype(np.uint8)
    for plane in (u, v):
        plane[:, edge // 2 :] = cv2.GaussianBlur(plane[:, edge // 2 :], (0, 0), sigma / 2)
    return y, u, v


@functools.cache
def _cloth(height: int, width: int) -> Plane:
    """The cloth's luma: dark, with a soft fold of light across it."""
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    return (22 + 10 * rows + 6 * cols).astype(np.uint8)


def _u8(array: Any) -> Plane:
    """OpenCV's results as the uint8 planes they are (no copy)."""
    return np.asarray(array, dtype=np.uint8)


def _pack(y: Plane, u: Plane, v: Plane) -> Plane:
    height, width = y.shape
    packed = np.concatenate((y.ravel(), u.ravel(), v.ravel()))
    return packed.reshape(height * 3 // 2, width)
