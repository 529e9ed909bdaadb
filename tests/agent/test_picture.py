"""Each picture measurement on synthetic planes whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.picture import (
    ANALYSIS_WIDTH,
    Plane,
    brightness,
    chroma_offset,
    downscale,
    frame_difference,
    luma_spread,
    measure,
    sharpness,
    texture_share,
)

pytestmark = pytest.mark.timeout(30)


def u8(array: object) -> Plane:
    return np.asarray(array, dtype=np.uint8)


def flat(value: int, height: int = 180, width: int = 320) -> Plane:
    return np.full((height, width), value, np.uint8)


def checkerboard(cell: int = 5, height: int = 180, width: int = 320) -> Plane:
    rows, cols = np.indices((height, width))
    return np.where(((rows // cell) + (cols // cell)) % 2 == 0, 40, 200).astype(np.uint8)


def noise(seed: int = 1, height: int = 180, width: int = 320) -> Plane:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


@pytest.mark.parametrize("value", [0, 16, 128, 255])
def test_a_uniform_picture_has_no_spread_sharpness_or_texture(value: int) -> None:
    picture = flat(value)
    assert brightness(picture) == pytest.approx(value)
    assert luma_spread(picture) == pytest.approx(0)
    assert sharpness(picture) == pytest.approx(0)
    assert texture_share(picture) == 0


def test_noise_is_spread_and_textured_everywhere() -> None:
    picture = noise()
    assert luma_spread(picture) > 60
    assert texture_share(picture) == 1
    assert brightness(picture) == pytest.approx(127.5, abs=2)


def test_blurring_a_sharp_pattern_takes_most_of_its_sharpness() -> None:
    sharp = u8(cv2.resize(noise(height=45, width=80), (320, 180), interpolation=cv2.INTER_NEAREST))
    blurred = u8(cv2.GaussianBlur(sharp, (0, 0), 3))
    assert sharpness(sharp) > 1000
    assert sharpness(blurred) < 0.1 * sharpness(sharp)
    # Blur softens edges but the coarse texture stays: it does not look like a covered lens.
    assert texture_share(blurred) > 0.9


def test_texture_share_is_the_uncovered_part_of_the_picture() -> None:
    half = checkerboard()
    half[:, :160] = 30
    assert texture_share(half) == pytest.approx(0.5, abs=0.05)
    most = checkerboard()
    most[:, : int(320 * 0.95)] = 30
    assert texture_share(most) < 0.08


def test_a_gentle_gradient_is_flat_not_texture() -> None:
    rows = np.linspace(20, 40, 180, dtype=np.float32)[:, None]
    gradient = np.repeat(rows, 320, axis=1).astype(np.uint8)
    assert texture_share(gradient) == 0


@pytest.mark.parametrize(
    ("u", "v", "expected"),
    [(128, 128, 0.0), (128, 180, 52.0), (98, 168, 50.0), (60, 128, 68.0)],
)
def test_chroma_offset_is_the_distance_from_neutral(u: int, v: int, expected: float) -> None:
    assert chroma_offset(flat(u, 90, 160), flat(v, 90, 160)) == pytest.approx(expected)


def test_frame_difference_is_the_mean_absolute_change() -> None:
    picture = noise()
    assert frame_difference(picture, picture.copy()) == 0
    brighter = u8(np.minimum(picture.astype(np.int16) + 10, 255))
    assert frame_difference(brighter, picture) == pytest.approx(10, abs=0.5)


def test_downscale_keeps_aspect_never_enlarges_and_reads_strided_views() -> None:
    full = noise(height=1080, width=1920)
    assert downscale(full, ANALYSIS_WIDTH).shape == (180, 320)
    small = noise(height=120, width=160)
    assert downscale(small, ANALYSIS_WIDTH) is small
    padded = noise(height=1080, width=2048)[:, :1920]  # a decoded plane with line padding
    assert not padded.flags.c_contiguous
    expected = downscale(np.ascontiguousarray(padded), ANALYSIS_WIDTH)
    assert np.array_equal(downscale(padded, ANALYSIS_WIDTH), expected)


def test_measure_gathers_every_figure() -> None:
    picture = checkerboard()
    previous = picture + 4
    stats = measure(picture, (flat(128, 360, 640), flat(170, 360, 640)), previous)
    assert stats.brightness == pytest.approx(120)
    assert stats.spread == pytest.approx(80)
    assert stats.texture == 1
    assert stats.chroma_offset == pytest.approx(42)
    assert stats.difference == pytest.approx(4)
    assert stats.sharpness == pytest.approx(sharpness(picture))


def test_measure_gives_no_difference_across_a_resolution_change_or_without_chroma() -> None:
    stats = measure(checkerboard(), None, flat(0, 90, 160))
    assert stats.difference is None
    assert stats.chroma_offset is None
