"""One worked example of every message, for the docs and the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocol.base import Envelope
from protocol.commands import (
    CommandError,
    CommandErrorCode,
    CommandReply,
    CommandRequest,
    SnapshotCommand,
    SnapshotResult,
)
from protocol.config import BoxConfig, CameraConfig, ConfigDesired, ConfigReported
from protocol.events import Event, QualityFaultEvent, RecordingGapEvent
from protocol.jobs import ClipExportJob, ClipResult, JobProgress, JobRequest, JobState
from protocol.presence import Birth, BoxState, CameraCapabilities, CameraInventory
from protocol.status import CameraState, CameraStatus, DiskUsage, StreamStats, Telemetry
from protocol.topics import Kind, topic

__all__ = ["examples"]

BOX = "mh-0001-a"
BOOT = "3f2a9c1e7b"
T0 = datetime(2026, 9, 1, 7, 30, tzinfo=UTC)


def examples() -> dict[Kind, list[Envelope]]:
    """Every kind with at least one realistic instance (fixed times, so docs are stable)."""
    agent = {"box_id": BOX, "boot_id": BOOT, "sent_at": T0}
    stats = StreamStats(
        codec="h264",
        width=1920,
        height=1080,
        fps=25.0,
        bitrate_kbps=4096.0,
        gop=25,
        hd=True,
        browser_playable=True,
    )
    return {
        Kind.BIRTH: [
            Birth(
                **agent,
                seq=0,
                software_version="0.1.0",
                session=1788248400000,
                started_at=T0 - timedelta(seconds=5),
                config_version=7,
                school="mh-0001",
                cameras=[
                    CameraInventory(
                        slot=1,
                        name="Main gate, outside",
                        profile="hikvision",
                        vendor="Hikvision",
                        model="DS-2CD2143G2",
                        firmware="V5.7.3",
                        capabilities=CameraCapabilities(onvif=True, substream=True),
                    )
                ],
            )
        ],
        Kind.STATE: [
            BoxState(**agent, seq=1, state="online", session=1788248400000, reason="connected"),
            BoxState(
                **agent, seq=1, state="offline", session=1788248400000, reason="connection_lost"
            ),
        ],
        Kind.CAMERA_STATUS: [
            CameraStatus(
                **agent,
                seq=2,
                slot=1,
                state=CameraState.ONLINE,
                since=T0,
                last_packet_at=T0,
                recording=True,
                completeness=0.998,
                stream=stats,
            )
        ],
        Kind.TELEMETRY: [
            Telemetry(
                **agent,
                seq=3,
                uptime_s=3600,
                cpu_percent=11.5,
                memory_percent=23.0,
                memory_used_bytes=1_900_000_000,
                load_1m=0.4,
                disks=[
                    DiskUsage(
                        mount="/var/lib/schoolcam",
                        total_bytes=4_000_000_000_000,
                        used_bytes=2_600_000_000_000,
                        free_percent=35.0,
                    )
                ],
                temperatures_c={"cpu": 51.0},
                uplink_rtt_ms=12.5,
                outbox_backlog=0,
                cameras_online=16,
                cameras_recording=16,
            )
        ],
        Kind.EVENT: [
            Event(
                **agent,
                seq=4,
                occurred_at=T0,
                body=QualityFaultEvent(
                    slot=3, fault="blur", state="raised", value=0.12, threshold=0.25
                ),
            ),
            Event(
                **agent,
                seq=5,
                occurred_at=T0,
                historical=True,
                body=RecordingGapEvent(
                    slot=5, start=T0 - timedelta(minutes=3), end=T0, reason="camera offline"
                ),
            ),
        ],
        Kind.CONFIG_DESIRED: [
            ConfigDesired(
                box_id=BOX,
                sent_at=T0,
                version=8,
                config=BoxConfig(
                    cameras=[
                        CameraConfig(
                            slot=1,
                            name="Main gate, outside",
                            url="rtsp://10.0.0.21:554/Streaming/Channels/101",
                            sub_url="rtsp://10.0.0.21:554/Streaming/Channels/102",
                            profile="hikvision",
                            username="admin",
                            password_ref="env:CAM1_PASSWORD",
                        )
                    ]
                ),
            )
        ],
        Kind.CONFIG_REPORTED: [
            ConfigReported(**agent, seq=6, applied_version=8, desired_version=8, status="applied")
        ],
        Kind.COMMAND_REQUEST: [
            CommandRequest(
                box_id=BOX,
                sent_at=T0,
                request_id="r-5d1c",
                reply_to=topic(Kind.COMMAND_REPLY, BOX),
                deadline=T0 + timedelta(seconds=10),
                command=SnapshotCommand(slot=1),
            )
        ],
        Kind.COMMAND_REPLY: [
            CommandReply(
                **agent,
                seq=7,
                request_id="r-5d1c",
                ok=True,
                result=SnapshotResult(
                    slot=1,
                    taken_at=T0,
                    width=1920,
                    height=1080,
                    jpeg_base64="/9j/4AAQSkZJRgABAQ...",
                ),
            ),
            CommandReply(
                **agent,
                seq=8,
                request_id="r-5d1d",
                ok=False,
                error=CommandError(
                    code=CommandErrorCode.CAMERA_OFFLINE,
                    message="slot 4 has delivered no packet for 42 s",
                ),
            ),
        ],
        Kind.JOB_REQUEST: [
            JobRequest(
                box_id=BOX,
                sent_at=T0,
                job_id="j-77a0",
                deadline=T0 + timedelta(hours=1),
                job=ClipExportJob(
                    slot=2,
                    start=T0,
                    end=T0 + timedelta(minutes=2),
                    upload_url="https://centre.example/api/v1/media/uploads/j-77a0",
                    upload_token="tok_0123456789abcdef",
                ),
            )
        ],
        Kind.JOB_PROGRESS: [
            JobProgress(
                **agent,
                seq=9,
                job_id="j-77a0",
                state=JobState.SUCCEEDED,
                progress=1.0,
                result=ClipResult(
                    bytes=61_440_000, duration_s=120.0, upload_ref="clips/j-77a0.mp4"
                ),
            )
        ],
    }
