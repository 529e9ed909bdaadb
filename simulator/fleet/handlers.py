"""How a simulated box answers the centre: desired config, commands and clip-export jobs.

Every answer goes through `protocol`; a request the box cannot read still gets a clear
answer where the protocol allows one (a rejected config report, an error reply).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime, timedelta

import httpx

from protocol import (
    AckResult,
    ClipExportJob,
    ClipResult,
    CommandError,
    CommandErrorCode,
    CommandReply,
    CommandRequest,
    ConfigDesired,
    ConfigEvent,
    ConfigIssue,
    ConfigReported,
    GapInfo,
    JobProgress,
    JobRequest,
    JobState,
    ProbeResult,
    ProtocolError,
    RecordingSearchResult,
    SegmentInfo,
    SnapshotResult,
    decode,
    utc_now,
)
from protocol.topics import Kind, parse_topic
from simulator.fleet.box import SimulatedBox
from simulator.fleet.catalog import CAMERAS_PER_BOX
from simulator.fleet.media import CLIP_SECONDS, SNAPSHOT_SIZE, clip_mp4, slot_jpeg
from simulator.fleet.upload import UploadFailed, upload

__all__ = ["BoxResponder"]

log = logging.getLogger(__name__)


class BoxResponder:
    """Dispatches what the centre sends to a box; holds the fleet's one HTTP client."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def handle(self, box: SimulatedBox, topic_name: str, payload: bytes) -> None:
        try:
            kind = parse_topic(topic_name).kind
        except ProtocolError as exc:
            box.stats.protocol_errors += 1
            log.warning("%s: message on a foreign topic: %s", box.box_id, exc)
            return
        try:
            if kind is Kind.CONFIG_DESIRED:
                self._config(box, topic_name, payload)
            elif kind is Kind.COMMAND_REQUEST:
                self._command(box, topic_name, payload)
            elif kind is Kind.JOB_REQUEST:
                self._job(box, topic_name, payload)
        except ConnectionError:
            log.info("%s: uplink gone before the answer to %s left", box.box_id, kind.value)

    # --- configuration ----------------------------------------------------------------------

    def _config(self, box: SimulatedBox, topic_name: str, payload: bytes) -> None:
        try:
            desired = decode(topic_name, payload)
        except ProtocolError as exc:
            box.stats.protocol_errors += 1
            version = exc.hint.get("version")
            self._report_rejected(
                box,
                version if isinstance(version, int) else None,
                [ConfigIssue(path="", message=exc.detail[:500])],
            )
            return
        assert isinstance(desired, ConfigDesired)
        issues = [
            ConfigIssue(
                path=f"cameras.{i}.slot",
                message=f"slot {c.slot} does not exist; this box has {CAMERAS_PER_BOX} ports",
            )
            for i, c in enumerate(desired.config.cameras)
            if c.slot > CAMERAS_PER_BOX
        ]
        if len(desired.config.cameras) > CAMERAS_PER_BOX:
            issues.append(
                ConfigIssue(path="cameras", message=f"more than {CAMERAS_PER_BOX} cameras")
            )
        if issues:
            self._report_rejected(box, desired.version, issues)
            return
        box.config_version = desired.version
        for camera in desired.config.cameras:
            runtime = box.cameras[camera.slot]
            runtime.plan = type(runtime.plan)(
                inventory=runtime.plan.inventory.model_copy(update={"name": camera.name}),
                stream=runtime.plan.stream,
                broken=runtime.plan.broken,
            )
        box.publish(
            ConfigReported(
                **box.envelope(),
                applied_version=desired.version,
                desired_version=desired.version,
                status="applied",
            )
        )
        box.emit(ConfigEvent(type="config_applied", version=desired.version))

    @staticmethod
    def _report_rejected(box: SimulatedBox, version: int | None, issues: list[ConfigIssue]) -> None:
        box.publish(
            ConfigReported(
                **box.envelope(),
                applied_version=box.config_version,
                desired_version=version,
                status="rejected",
                errors=issues,
            )
        )
        box.emit(
            ConfigEvent(
                type="config_rejected",
                version=version or 0,
                errors=[f"{i.path}: {i.message}"[:500] for i in issues],
            )
        )

    # --- commands ---------------------------------------------------------------------------

    def _command(self, box: SimulatedBox, topic_name: str, payload: bytes) -> None:
        try:
            request = decode(topic_name, payload)
        except ProtocolError as exc:
            box.stats.protocol_errors += 1
            request_id = exc.hint.get("request_id")
            if isinstance(request_id, str):
                self._reply_error(box, request_id, CommandErrorCode.BAD_ARGUMENTS, exc.detail)
            else:
                log.warning("%s: unreadable command without request_id: %s", box.box_id, exc)
            return
        assert isinstance(request, CommandRequest)
        command = request.command
        now = utc_now()
        if request.deadline <= now:
            self._reply_error(
                box,
                request.request_id,
                CommandErrorCode.DEADLINE_EXPIRED,
                f"deadline {request.deadline.isoformat()} passed before the box saw it",
            )
            return
        camera = box.cameras.get(command.slot)
        if camera is None:
            self._reply_error(
                box,
                request.request_id,
                CommandErrorCode.UNKNOWN_SLOT,
                f"slot {command.slot} has no camera on this box",
            )
            return
        online = camera.state.value == "online"
        result: SnapshotResult | ProbeResult | RecordingSearchResult | AckResult
        if command.name == "snapshot":
            if not online:
                self._reply_error(
                    box,
                    request.request_id,
                    CommandErrorCode.CAMERA_OFFLINE,
                    camera.error or "offline",
                )
                return
            jpeg = slot_jpeg(command.slot, camera.plan.inventory.name)
            result = SnapshotResult(
                slot=command.slot,
                taken_at=now,
                width=SNAPSHOT_SIZE[0],
                height=SNAPSHOT_SIZE[1],
                jpeg_base64=base64.b64encode(jpeg).decode(),
            )
        elif command.name == "probe":
            result = ProbeResult(
                slot=command.slot,
                reachable=online,
                stream=camera.plan.stream if online else None,
                detail=None if online else camera.error,
            )
        elif command.name == "recording_search":
            result = _recording_search(box, command.slot, command.start, command.end)
        else:
            result = AckResult()
        box.stats.replies += 1
        box.publish(
            CommandReply(**box.envelope(), request_id=request.request_id, ok=True, result=result)
        )

    @staticmethod
    def _reply_error(
        box: SimulatedBox, request_id: str, code: CommandErrorCode, message: str
    ) -> None:
        box.stats.replies += 1
        box.publish(
            CommandReply(
                **box.envelope(),
                request_id=request_id,
                ok=False,
                error=CommandError(code=code, message=message[:500]),
            )
        )

    # --- jobs -------------------------------------------------------------------------------

    def _job(self, box: SimulatedBox, topic_name: str, payload: bytes) -> None:
        try:
            request = decode(topic_name, payload)
        except ProtocolError as exc:
            box.stats.protocol_errors += 1
            job_id = exc.hint.get("job_id")
            if isinstance(job_id, str):
                self._progress(
                    box, job_id, JobState.FAILED, message=f"unreadable job: {exc.detail}"
                )
            return
        assert isinstance(request, JobRequest)
        running = box.jobs.get(request.job_id)
        if request.action == "cancel":
            if running is not None and not running.done():
                running.cancel()
            return
        if running is not None or request.job is None:
            return  # starting a job id the box already has is a no-op
        box.stats.jobs += 1
        if request.deadline <= utc_now():
            self._progress(box, request.job_id, JobState.TIMED_OUT, message="deadline passed")
            return
        task = asyncio.get_running_loop().create_task(self._run_job(box, request, request.job))
        box.jobs[request.job_id] = task

    async def _run_job(self, box: SimulatedBox, request: JobRequest, job: ClipExportJob) -> None:
        job_id = request.job_id
        try:
            self._progress(box, job_id, JobState.QUEUED)
            if box.cameras.get(job.slot) is None:
                self._progress(box, job_id, JobState.FAILED, message=f"slot {job.slot} unknown")
                return
            self._progress(box, job_id, JobState.IN_PROGRESS, progress=0.1)
            data = await asyncio.get_running_loop().run_in_executor(None, clip_mp4)
            if self._http is None:
                self._http = httpx.AsyncClient(timeout=30.0)
            remaining = (request.deadline - utc_now()).total_seconds()
            await asyncio.wait_for(
                upload(self._http, job.upload_url, job.upload_token, data), max(remaining, 0.1)
            )
            self._progress(
                box,
                job_id,
                JobState.SUCCEEDED,
                progress=1.0,
                result=ClipResult(
                    bytes=len(data), duration_s=CLIP_SECONDS, upload_ref=f"clips/{job_id}.mp4"
                ),
            )
        except UploadFailed as exc:
            self._progress(box, job_id, JobState.FAILED, message=str(exc))
        except TimeoutError:
            self._progress(box, job_id, JobState.TIMED_OUT, message="upload ran past the deadline")
        except asyncio.CancelledError:
            self._progress(box, job_id, JobState.CANCELLED)
        except Exception as exc:
            log.exception("%s: job %s failed", box.box_id, job_id)
            self._progress(box, job_id, JobState.FAILED, message=f"{type(exc).__name__}")

    @staticmethod
    def _progress(box: SimulatedBox, job_id: str, state: JobState, **fields: object) -> None:
        try:
            box.publish(JobProgress(**box.envelope(), job_id=job_id, state=state, **fields))
        except ConnectionError:
            log.info("%s: job %s progress %s not sent (uplink down)", box.box_id, job_id, state)


def _recording_search(
    box: SimulatedBox, slot: int, start: datetime, end: datetime
) -> RecordingSearchResult:
    """One-minute segments over [start, end) with a plausible gap or two."""
    rng = box.rng
    segments: list[SegmentInfo] = []
    gaps: list[GapInfo] = []
    cursor = start
    gap_every = rng.randint(90, 400)
    index = 0
    while cursor < end and len(segments) < 5000:
        stop = min(cursor + timedelta(minutes=1), end)
        index += 1
        if index % gap_every == 0:
            gap_end = min(cursor + timedelta(minutes=rng.randint(2, 15)), end)
            gaps.append(GapInfo(start=cursor, end=gap_end, reason="camera offline"))
            cursor = gap_end
            continue
        seconds = (stop - cursor).total_seconds()
        segments.append(SegmentInfo(start=cursor, end=stop, bytes=int(seconds * 512_000)))
        cursor = stop
    return RecordingSearchResult(slot=slot, segments=segments, gaps=gaps, truncated=cursor < end)
