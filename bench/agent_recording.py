"""The whole agent recording 16 cameras against 16 `ffmpeg -c copy -f segment`, side by side.

Sixteen 1080p25 H.264 cameras at ~4 Mbit/s come from the RTSP simulator. One child process
runs the agent's camera pipeline (recording, stream stats, picture checks every 10 s, taken
from each camera's 640x360 sub stream as a deployed box is configured, or with
`--main-stream` from main-stream keyframes); sixteen ffmpeg children copy the same main
streams at the same time into the same kind of files: video only, fragmented MP4 segments (a
fragment per keyframe) with timestamps reset to zero. After a warm-up, CPU seconds (user +
system, every thread), context switches and peak RSS of both sides are measured over the same
window; the agent also reports how much of its CPU went to taking and checking sampled
pictures. Prints one JSON line (agent_cpu_s, ffmpeg_cpu_s,
ratio, agent_rss_mb + details) and records it in docs/performance.md.

    .venv/bin/python -m bench.agent_recording [--seconds 60] [--cameras 16] [--short]
        [--sub-stream | --main-stream] [--quality-interval 10] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ProcessSampler, context_switches
from bench.report import emit, record

WARMUP_S = 8.0
SHORT_SECONDS = 20.0
FRAGMENTED_MP4 = "movflags=frag_keyframe+empty_moov+default_base_moof"
TARGET_RATIO = 1.0
TARGET_RSS_MB = 300.0
SUB_STREAM_DEFAULT = True
"""Picture checks from the sub stream unless `--main-stream` (docs/performance.md)."""


def agent_child(
    urls: list[str], root: Path, segment_seconds: int, quality_s: float, sub_urls: list[str]
) -> None:
    """Runs in the agent child: the pipeline until stdin closes.

    Each line read from stdin is answered with one JSON line of the picture-check counters,
    so the parent can take them at the start and the end of its measured window.
    """
    from agent.pipeline import CameraPipeline
    from protocol import BoxConfig, CameraConfig, QualityConfig, RecordingConfig

    logging.basicConfig(level=logging.WARNING)

    class CountingSink:
        def __init__(self) -> None:
            self.events = 0

        def event(self, body: object, occurred_at: object = None) -> None:
            self.events += 1

        def camera_changed(self, slot: int) -> None:
            pass

    subs: list[str | None] = [*sub_urls] if sub_urls else [None] * len(urls)
    config = BoxConfig(
        cameras=[
            CameraConfig(slot=n + 1, name=f"cam {n + 1}", url=u, sub_url=sub)
            for n, (u, sub) in enumerate(zip(urls, subs, strict=True))
        ],
        recording=RecordingConfig(segment_seconds=segment_seconds),
        quality=QualityConfig(enabled=quality_s > 0, sample_interval_s=max(quality_s, 1)),
    )
    sink = CountingSink()
    pipeline = CameraPipeline(config, root, sink)
    pipeline.start()
    print("started", flush=True)
    for _line in sys.stdin:  # the parent asks for counters, then closes stdin to stop us
        pictures, picture_cpu_s = pipeline.picture_cost()
        print(json.dumps({"pictures": pictures, "picture_cpu_s": picture_cpu_s}), flush=True)
    views = pipeline.cameras()
    pipeline.stop()
    summary = {
        "online": sum(v.state == "online" for v in views),
        "recording": sum(v.recording for v in views),
        "events": sink.events,
    }
    print(json.dumps(summary), flush=True)


def ffmpeg_copy(url: str, pattern: Path, segment_seconds: int) -> list[str]:
    """What an operator would run per camera: copy the video into fragmented MP4 segments."""
    return [
        "ffmpeg", "-nostdin", "-loglevel", "error",
        "-rtsp_transport", "tcp", "-i", url,
        "-map", "0:v", "-c", "copy",
        "-f", "segment", "-segment_time", str(segment_seconds), "-reset_timestamps", "1",
        "-segment_format", "mp4", "-segment_format_options", FRAGMENTED_MP4,
        str(pattern),
    ]  # fmt: skip


def _ask(agent: subprocess.Popen[str]) -> dict[str, Any]:
    assert agent.stdin is not None and agent.stdout is not None
    agent.stdin.write("counters\n")
    agent.stdin.flush()
    answer: dict[str, Any] = json.loads(agent.stdout.readline())
    return answer


def run(
    seconds: float, cameras: int, segment_seconds: int, quality_s: float, sub_stream: bool
) -> dict[str, Any]:
    from simulator.cameras import CameraSimulator

    with CameraSimulator(cameras) as sim, tempfile.TemporaryDirectory() as scratch:
        urls = sim.urls()
        subs = [f"--sub-url={u}" for u in sim.urls(sub=True)] if sub_stream else []
        agent_root = Path(scratch) / "agent"
        ffmpeg_root = Path(scratch) / "ffmpeg"
        ffmpeg_root.mkdir()
        agent = subprocess.Popen(
            [sys.executable, "-m", "bench.agent_recording", "--child", str(agent_root),
             "--segment-seconds", str(segment_seconds), "--quality-interval", str(quality_s),
             *subs, *urls],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        copies = [
            subprocess.Popen(
                ffmpeg_copy(url, ffmpeg_root / f"cam{n:02d}-%05d.mp4", segment_seconds),
                stdin=subprocess.DEVNULL,
            )
            for n, url in enumerate(urls, 1)
        ]
        try:
            assert agent.stdout is not None and agent.stdin is not None
            assert agent.stdout.readline().strip() == "started"
            time.sleep(WARMUP_S)
            agent_side = ProcessSampler([agent.pid])
            ffmpeg_side = ProcessSampler([p.pid for p in copies])
            switches = [context_switches(agent.pid), sum(context_switches(p.pid) for p in copies)]
            before = _ask(agent)
            agent_side.mark()
            ffmpeg_side.mark()
            time.sleep(seconds)
            agent_usage = agent_side.finish()
            ffmpeg_usage = ffmpeg_side.finish()
            after = _ask(agent)
            switches = [
                context_switches(agent.pid) - switches[0],
                sum(context_switches(p.pid) for p in copies) - switches[1],
            ]
            agent.stdin.close()
            summary = json.loads(agent.stdout.readline() or "{}")
            agent.wait(30)
        finally:
            children: list[subprocess.Popen[str] | subprocess.Popen[bytes]] = [agent, *copies]
            for proc in children:
                if proc.poll() is None:
                    proc.terminate()
            for proc in children:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        agent_files = list((agent_root / "rec").rglob("*.mp4"))
        pictures = after["pictures"] - before["pictures"]
        picture_cpu_s = after["picture_cpu_s"] - before["picture_cpu_s"]
        ratio = round(agent_usage.cpu_s / ffmpeg_usage.cpu_s, 3) if ffmpeg_usage.cpu_s else None
        return {
            "bench": "agent_recording",
            "cameras": cameras,
            "seconds": seconds,
            "quality_interval_s": quality_s,
            "checks_from": ("sub" if sub_stream else "main") if quality_s > 0 else "off",
            "agent_cpu_s": agent_usage.cpu_s,
            "ffmpeg_cpu_s": ffmpeg_usage.cpu_s,
            "ratio": ratio,
            "meets_target": ratio is not None
            and ratio <= TARGET_RATIO
            and agent_usage.peak_rss_mb <= TARGET_RSS_MB,
            "agent_rss_mb": agent_usage.peak_rss_mb,
            "ffmpeg_rss_mb": ffmpeg_usage.peak_rss_mb,
            "agent_core_percent": round(100 * agent_usage.cpu_s / seconds, 1),
            "ffmpeg_core_percent": round(100 * ffmpeg_usage.cpu_s / seconds, 1),
            "agent_pictures": pictures,
            "agent_picture_cpu_s": round(picture_cpu_s, 2),
            "agent_picture_ms_each": round(1000 * picture_cpu_s / max(pictures, 1), 1),
            "agent_recording_cpu_s": round(agent_usage.cpu_s - picture_cpu_s, 2),
            "recording_ratio": round((agent_usage.cpu_s - picture_cpu_s) / ffmpeg_usage.cpu_s, 3)
            if ffmpeg_usage.cpu_s
            else None,
            "agent_switches_per_s": round(switches[0] / seconds),
            "ffmpeg_switches_per_s": round(switches[1] / seconds),
            "agent_segments": len(agent_files),
            "agent_bytes": sum(p.stat().st_size for p in agent_files),
            "ffmpeg_bytes": sum(p.stat().st_size for p in ffmpeg_root.glob("*.mp4")),
            "agent": summary,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--short", action="store_true", help=f"{SHORT_SECONDS:.0f} s (for CI)")
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--segment-seconds", type=int, default=60)
    parser.add_argument(
        "--quality-interval", type=float, default=10.0, help="seconds between checks; 0 = off"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--sub-stream",
        dest="sub_stream",
        action="store_true",
        help="configure each camera's sub stream (picture checks from it)",
    )
    source.add_argument(
        "--main-stream",
        dest="sub_stream",
        action="store_false",
        help="no sub stream: picture checks decode main-stream keyframes",
    )
    parser.set_defaults(sub_stream=SUB_STREAM_DEFAULT)
    parser.add_argument(
        "--no-record", action="store_true", help="print only; leave docs/performance.md alone"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sub-url", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("urls", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        agent_child(
            args.urls, args.child, args.segment_seconds, args.quality_interval, args.sub_url
        )
        return
    seconds = SHORT_SECONDS if args.short else args.seconds
    result = run(
        seconds, args.cameras, args.segment_seconds, args.quality_interval, args.sub_stream
    )
    emit(result)
    if not args.no_record:
        figures = {k: v for k, v in result.items() if k not in ("bench", "agent")}
        record(
            "agent_recording",
            figures,
            title="Edge agent vs ffmpeg -c copy, 16 cameras (latest run)",
            note=f"targets: ratio <= {TARGET_RATIO} and agent RSS <= {TARGET_RSS_MB:.0f} MB; "
            "16 simulated 1080p25 ~4 Mbit/s RTSP cameras on the same 2 cores; "
            f"checks from the {result['checks_from']} stream; "
            + ("short mode" if args.short else f"{seconds:.0f} s window after an 8 s warm-up"),
        )


if __name__ == "__main__":
    main()
