"""Cost of one picture check on a 1080p keyframe: decode, our analysis, and the naive way.

Prints one JSON line. `analyse_ms` is what `agent.quality` does (zero-copy luma view, area
downscale to 320 px, OpenCV reductions, chroma planes as they are); `naive_analyse_ms` the
same figures from a BGR conversion at full resolution with numpy reductions. Both run in
this one process on the same frames, so the ratio holds even on a busy machine.

    .venv/bin/python -m bench.quality_cost [--samples 40] [--short]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from agent.keyframes import KeyframeDecoder, frame_planes
from agent.picture import ANALYSIS_WIDTH, Plane, downscale, measure
from simulator.clips import CLIPS, ensure_clips


def keyframe_packets(path: Path) -> tuple[KeyframeDecoder, list[av.Packet]]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    decoder = KeyframeDecoder(stream)
    packets = [p for p in container.demux(stream) if p.is_keyframe and p.size]
    return decoder, packets


def ours(frame: av.VideoFrame, previous: Plane | None) -> Plane:
    luma, chroma = frame_planes(frame)
    small = downscale(luma, ANALYSIS_WIDTH)
    measure(small, chroma, previous)
    return small


def naive(frame: av.VideoFrame, previous: Any) -> Any:
    bgr = frame.to_ndarray(format="bgr24")
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    grey.mean()
    grey.std()
    np.var(cv2.Laplacian(grey, cv2.CV_64F))
    height, width = grey.shape
    tiles = grey[: height // 48 * 48, : width // 48 * 48].reshape(height // 48, 48, -1, 48)
    (tiles.std(axis=(1, 3)) > 3).mean()
    bgr.reshape(-1, 3).mean(axis=0)
    if previous is not None:
        np.abs(grey.astype(np.int16) - previous).mean()
    return grey


def timed_ms(step: Callable[[Any, Any], Any], frames: list[av.VideoFrame], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        previous = None
        for frame in frames:
            started = time.perf_counter()
            previous = step(frame, previous)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40, help="keyframes to time")
    parser.add_argument("--short", action="store_true", help="fewer samples (CI)")
    args = parser.parse_args()
    if args.short:
        args.samples = min(args.samples, 16)
    spec = next(s for s in CLIPS if s.stream == "main" and s.picture == "clean")
    decoder, packets = keyframe_packets(ensure_clips().parent / spec.file_name())
    decode_times: list[float] = []
    frames: list[av.VideoFrame] = []
    for index in range(args.samples):
        packet = packets[index % len(packets)]
        started = time.perf_counter()
        frame = decoder.decode(packet)
        decode_times.append((time.perf_counter() - started) * 1000)
        if frame is not None and len(frames) < len(packets):
            frames.append(frame)
    rounds = max(1, args.samples // len(frames))
    ours_ms = timed_ms(ours, frames, rounds)
    naive_ms = timed_ms(naive, frames, rounds)
    result = {
        "bench": "quality_cost",
        "resolution": f"{frames[0].width}x{frames[0].height}",
        "samples": args.samples,
        "decode_ms": round(statistics.median(decode_times), 2),
        "analyse_ms": round(ours_ms, 3),
        "naive_analyse_ms": round(naive_ms, 3),
        "ratio": round(naive_ms / ours_ms, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
