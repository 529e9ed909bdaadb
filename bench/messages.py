"""Message templates the ingest benchmarks share: a healthy 1080p camera and a box's telemetry.

Benchmarks copy these with `model_copy(update=...)` to give each message its own envelope.
"""

from __future__ import annotations

import random
from datetime import datetime

from protocol import (
    CameraConnectivityEvent,
    CameraState,
    CameraStatus,
    DiskUsage,
    QualityFault,
    QualityFaultEvent,
    StreamStats,
    Telemetry,
)

__all__ = ["HD_STREAM", "random_event_body", "status_template", "telemetry_template"]

HD_STREAM = StreamStats(
    codec="h264",
    width=1920,
    height=1080,
    fps=25.0,
    bitrate_kbps=4096.0,
    gop=25.0,
    hd=True,
    browser_playable=True,
)


def status_template(
    box_id: str, now: datetime, *, completeness: float | None = None
) -> CameraStatus:
    """Slot 1 of `box_id`, online and recording since `now`."""
    return CameraStatus(
        box_id=box_id,
        boot_id="boot-1",
        seq=0,
        slot=1,
        state=CameraState.ONLINE,
        since=now,
        last_packet_at=now,
        recording=True,
        completeness=completeness,
        stream=HD_STREAM,
    )


def measured_streams(rng: random.Random, count: int = 64) -> list[StreamStats]:
    """`HD_STREAM` as a camera measures it from one status to the next: the same stream, with
    fps and bitrate a little different every time (what keeps a real heartbeat from being a
    byte-for-byte repeat)."""
    return [
        HD_STREAM.model_copy(
            update={
                "fps": round(rng.uniform(24.6, 25.4), 2),
                "bitrate_kbps": round(rng.uniform(3600.0, 4400.0), 1),
            }
        )
        for _ in range(count)
    ]


def telemetry_template(box_id: str) -> Telemetry:
    """A healthy box: moderate load, half its recording disk free."""
    return Telemetry(
        box_id=box_id,
        boot_id="boot-1",
        seq=0,
        uptime_s=3600,
        cpu_percent=12.5,
        memory_percent=31.0,
        memory_used_bytes=2_600_000_000,
        load_1m=0.8,
        disks=[
            DiskUsage(
                mount="/var/lib/schoolcam",
                total_bytes=4 * 10**12,
                used_bytes=2 * 10**12,
                free_percent=50.0,
            )
        ],
        temperatures_c={"cpu": 51.0},
        uplink_rtt_ms=12.0,
        cameras_online=16,
        cameras_recording=16,
    )


def random_event_body(rng: random.Random, slot: int) -> QualityFaultEvent | CameraConnectivityEvent:
    """A blur fault (60 %) or a connectivity change, raised or cleared at random."""
    raised = rng.random() < 0.5
    if rng.random() < 0.6:
        return QualityFaultEvent(
            slot=slot,
            fault=QualityFault.BLUR,
            state="raised" if raised else "cleared",
            value=0.1,
            threshold=0.25,
        )
    return CameraConnectivityEvent(type="camera_offline" if raised else "camera_online", slot=slot)
