"""Picture measurements on YUV planes: numpy arrays in, numbers out.

Everything here works on 8-bit planes that were already downscaled (see `downscale`), so one
sample costs about a millisecond whatever the camera's resolution. Nothing here keeps state
or judges: `agent.quality` compares these figures with thresholds and a camera's baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "ANALYSIS_WIDTH",
    "BLOCK_SIZE",
    "FLAT_BLOCK_STD",
    "PictureStats",
    "Plane",
    "brightness",
    "chroma_offset",
    "downscale",
    "frame_difference",
    "luma_spread",
    "measure",
    "sharpness",
    "texture_share",
]

Plane = npt.NDArray[np.uint8]

ANALYSIS_WIDTH = 320
"""Luma is analysed at this width (1080p becomes 320x180): detail enough, cost tiny."""

BLOCK_SIZE = 8
"""Side of the blocks, in analysed pixels, whose local spread says 'textured' or 'flat'."""

FLAT_BLOCK_STD = 3.0
"""A block whose luma spread is at or below this is flat. Downscaling by area averages
sensor noise away (to well under one level at 320 wide), so any real detail clears it."""


def downscale(plane: Plane, width: int) -> Plane:
    """`plane` shrunk by area averaging to `width` (aspect kept); never enlarged.

    Accepts a strided view (a decoded plane with line padding) without copying it first.
    """
    height, source_width = plane.shape
    if source_width <= width:
        return plane
    target_height = max(1, round(height * width / source_width))
    small = cv2.resize(plane, (width, target_height), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


def brightness(luma: Plane) -> float:
    """Mean luma (0-255)."""
    return float(cv2.mean(luma)[0])


def luma_spread(luma: Plane) -> float:
    """Standard deviation of luma: near zero for a black or uniform picture."""
    _, std = cv2.meanStdDev(luma)
    return float(std[0, 0])


def sharpness(luma: Plane) -> float:
    """Variance of the Laplacian: high for crisp edges, low for a soft or blurred picture."""
    laplacian = cv2.Laplacian(luma, cv2.CV_16S, ksize=3)
    _, std = cv2.meanStdDev(laplacian)
    return float(std[0, 0]) ** 2


def texture_share(luma: Plane, block: int = BLOCK_SIZE, flat_std: float = FLAT_BLOCK_STD) -> float:
    """Share (0-1) of `block`-sized tiles whose local luma spread is above `flat_std`.

    A lens covered by a hand, a bag or paint leaves most tiles flat, although the picture as
    a whole may still have some spread (a fold of light, a bright edge).
    """
    height, width = luma.shape
    rows, cols = height // block, width // block
    if rows == 0 or cols == 0:
        return 1.0 if luma_spread(luma) > flat_std else 0.0
    tiles = luma[: rows * block, : cols * block].astype(np.float32)
    mean = cv2.resize(tiles, (cols, rows), interpolation=cv2.INTER_AREA)
    mean_sq = cv2.resize(tiles * tiles, (cols, rows), interpolation=cv2.INTER_AREA)
    variance = np.maximum(mean_sq - mean * mean, 0.0)
    return float(np.count_nonzero(variance > flat_std * flat_std)) / float(rows * cols)


def frame_difference(luma: Plane, previous: Plane) -> float:
    """Mean absolute luma difference between two samples of the same size."""
    return float(cv2.mean(cv2.absdiff(luma, previous))[0])


def chroma_offset(u: Plane, v: Plane) -> float:
    """Distance of the mean (U, V) from neutral (128, 128): how strong a colour cast is."""
    du = float(cv2.mean(u)[0]) - 128.0
    dv = float(cv2.mean(v)[0]) - 128.0
    return math.hypot(du, dv)


@dataclass(frozen=True)
class PictureStats:
    """The figures of one sampled picture."""

    brightness: float
    spread: float
    sharpness: float
    texture: float
    chroma_offset: float | None
    difference: float | None


def measure(
    luma: Plane,
    chroma: tuple[Plane, Plane] | None = None,
    previous: Plane | None = None,
) -> PictureStats:
    """All figures of one picture; `luma` and `previous` already downscaled.

    `chroma` (U, V) may be the full planes: they are downscaled here. `previous` of another
    size (the stream changed resolution) gives no difference rather than a wrong one.
    """
    offset = None
    if chroma is not None:
        width = max(1, luma.shape[1] // 2)
        offset = chroma_offset(downscale(chroma[0], width), downscale(chroma[1], width))
    difference = None
    if previous is not None and previous.shape == luma.shape:
        difference = frame_difference(luma, previous)
    return PictureStats(
        brightness=brightness(luma),
        spread=luma_spread(luma),
        sharpness=sharpness(luma),
        texture=texture_share(luma),
        chroma_offset=offset,
        difference=difference,
    )
