"""Fixtures of the agent's camera-pipeline tests: real RTSP cameras, real media files."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.cameras import CameraSimulator


@pytest.fixture(scope="module")
def module_cameras(camera_clips: Path) -> Iterator[CameraSimulator]:
    """Four RTSP cameras shared by the tests of one module (started once, stopped after)."""
    simulator = CameraSimulator(4, cache_dir=camera_clips)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small local inputs: 12 s of H.264 (MP4) and 6 s of H.265 with G.711 audio (MKV)."""
    directory = tmp_path_factory.mktemp("media")
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "12",
        "-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
        str(directory / "h264.mp4"),
    )  # fmt: skip
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
        "-t", "6", "-c:v", "libx265", "-x265-params", "log-level=error", "-g", "25", "-bf", "0",
        "-pix_fmt", "yuv420p", "-c:a", "pcm_mulaw", str(directory / "hevc.mkv"),
    )  # fmt: skip
    return directory
