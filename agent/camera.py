"""One camera worker per slot: connect, watch, record, sample, reconnect.

The worker judges its camera by packets actually arriving: a connection that delivers
nothing for `stall_after_s` is a stall (caught even when the TCP session stays up, because
every read is bounded), and leads to a reconnect with capped exponential backoff. Each worker
has its own thread and its own input, so one broken camera never delays another.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av

from agent.credentials import CredentialError, stream_url
from agent.index import RecordingIndex
from agent.interfaces import CameraView, EventSink
from agent.keyframes import KeyframeDecoder
from agent.quality import QualityDiagnoser
from agent.recorder import RecorderError, SegmentRecorder
from agent.roles import PeriodicRole
from agent.sampler import SubStreamSampler
from agent.snapshot import SnapshotRequest
from agent.source import (
    OpenSource,
    SourceError,
    UnsupportedCodec,
    UnsupportedUrl,
    ffmpeg_reason,
    open_source,
)
from agent.stats import StreamStatsTracker
from agent.substream import sub_stream_credentials_url, sub_stream_url
from protocol import (
    CameraConfig,
    CameraConnectivityEvent,
    CameraFaultEvent,
    CameraState,
    QualityConfig,
    QualityFaultEvent,
    RecordingGapEvent,
    utc_now,
)

__all__ = ["CameraWorker", "StorageGate", "Watchdog", "WorkerSettings", "camera_cpu"]

log = logging.getLogger(__name__)

MIN_GAP_S = 1.0
ONLINE_AFTER_S = 1.0
READ_GRACE_S = 2.0
_DARK = frozenset({CameraState.OFFLINE, CameraState.STALLED, CameraState.ERROR})
"""States in which a camera delivers nothing: its status carries rates of zero."""


@dataclass(frozen=True)
class WorkerSettings:
    """Timing of one worker; replaced as a whole when the centre pushes a new config."""

    segment_seconds: float = 60
    quality: QualityConfig = field(default_factory=QualityConfig)
    stall_after_s: float = 5.0
    open_timeout_s: float = 6.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    healthy_after_s: float = 30.0
    no_keyframe_after_s: float = 30.0
    one_cpu: bool = True
    """Run every camera thread on one CPU (see `camera_cpu`)."""
    sub_stream_budget_s: float = 5.0
    """Longest a sub-stream sample may take to connect and deliver a keyframe."""
    sub_stream_retry_max_s: float = 300.0
    """Cap of the backoff between tries of a failing sub stream."""


def camera_cpu() -> int | None:
    """The CPU the camera threads share, or None where there is nothing to choose.

    PyAV's read timeout takes the GIL on every socket read (thousands of times a second per
    camera). Threads running on two cores at once then keep handing the GIL to each other
    across cores, which costs more than the reads themselves; on one core the hand-overs
    almost vanish, and sixteen cameras need only about a tenth of it. The highest-numbered
    CPU the process may use is taken, away from CPU 0 where most housekeeping runs; every
    other thread of the agent keeps all CPUs.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    return max(allowed) if len(allowed) > 1 else None


def _pin_to(cpu: int | None, slot: int) -> None:
    """Bind the calling thread (only it) to `cpu`; a refusal is logged, never fatal."""
    if cpu is None:
        return
    try:
        os.sched_setaffinity(0, {cpu})  # pid 0: the calling thread on Linux
    except OSError as exc:
        log.warning("slot %s: could not bind the camera thread to CPU %s: %s", slot, cpu, exc)


class StorageGate:
    """Whether recordings may be written now; the pipeline flips it on storage faults."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._ok = threading.Event()
        self._ok.set()
        self._report = report

    @property
    def writable(self) -> bool:
        return self._ok.is_set()

    def failed(self, detail: str) -> None:
        if self._ok.is_set():
            self._ok.clear()
            self._report(detail)

    def restored(self) -> None:
        self._ok.set()


class CameraWorker:
    """Reads one camera; started and stopped by the pipeline."""

    def __init__(
        self,
        camera: CameraConfig,
        settings: WorkerSettings,
        sink: EventSink,
        index: RecordingIndex | None,
        storage: StorageGate,
        *,
        root: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        raised_faults: set[str] | None = None,
    ) -> None:
        self.camera = camera
        self.slot = camera.slot
        self.settings = settings
        self._sink = sink
        self._index = index
        self._storage = storage
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._transition = threading.RLock()
        self._last_packet_mono = time.monotonic()
        self._state = CameraState.CONNECTING if camera.enabled else CameraState.DISABLED
        self._since = clock()
        self._error: str | None = None
        self._packets_seen = False
        # camera faults already reported for this slot (carried over when the config changes,
        # so the replacement can clear them)
        self._faults_raised: set[str] = set(raised_faults or ())
        self._snapshots: list[SnapshotRequest] = []
        self.stats = StreamStatsTracker()
        self._diagnoser = QualityDiagnoser(settings.quality)
        self._judging = threading.Lock()
        self._picture_source: str | None = None
        self.sub_url = sub_stream_url(camera) if camera.enabled else None
        """The sub stream picture checks are taken from (no password in it), or None."""
        self.sampler = (
            SubStreamSampler(
                self.slot,
                lambda: sub_stream_credentials_url(camera, self.sub_url or ""),
                lambda frame, wall: self._judge(frame, wall, "sub"),
                quality=lambda: self.settings.quality,
                online=lambda: self._state == CameraState.ONLINE,
                on_thread=self._pin,
                budget_s=settings.sub_stream_budget_s,
                retry_max_s=settings.sub_stream_retry_max_s,
                clock=clock,
            )
            if self.sub_url is not None
            else None
        )
        self._recorder = (
            SegmentRecorder(self.slot, root, index, settings.segment_seconds)
            if index is not None and root is not None
            else None
        )
        last_end = index.last_end(self.slot) if index is not None else None
        self._recorded_until: datetime | None = last_end
        self._gap_reason = "agent not running"
        self._recording = False
        self.pictures = 0
        """Main-stream keyframes decoded for checks or snapshots since the worker started."""
        self.picture_cpu_s = 0.0
        """CPU seconds the worker spent on them (decode and checks): the measured price of
        picture checks, as distinct from recording (bench/agent_recording.py)."""

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if not self.camera.enabled:
            return
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.slot:02d}")
        self._thread.start()
        if self.sampler is not None:
            self.sampler.start()

    def signal_stop(self) -> None:
        self._stop.set()
        if self.sampler is not None:
            self.sampler.signal_stop()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("slot %s: worker did not stop within %.0f s", self.slot, timeout)
        if self.sampler is not None:
            self.sampler.join(timeout)

    def stop(self) -> None:
        self.signal_stop()
        self.join()

    def update_settings(self, settings: WorkerSettings) -> None:
        """Live changes: segment length, thresholds, intervals (no reconnect)."""
        self.settings = settings
        if self._recorder is not None:
            self._recorder.segment_seconds = settings.segment_seconds
        self._diagnoser.update_config(settings.quality)

    # -- what others read --------------------------------------------------------------------

    def view(self) -> CameraView:
        with self._lock:
            state, since, error = self._state, self._since, self._error
            recording, last_mono = self._recording, self._last_packet_mono
        last = None
        if self._packets_seen:
            last = self._clock() - timedelta(seconds=time.monotonic() - last_mono)
        return CameraView(
            slot=self.slot,
            state=state,
            since=since,
            last_packet_at=last,
            recording=recording,
            stream=None
            if state == CameraState.DISABLED
            else self.stats.stats(time.monotonic(), delivering=state not in _DARK),
            faults=sorted(self._diagnoser.active),
            error=error,
        )

    @property
    def raised_faults(self) -> set[str]:
        return set(self._faults_raised)

    @property
    def picture_source(self) -> str | None:
        """Where the last checked picture came from: "sub", "main", or None before any."""
        return self._picture_source

    def picture_cost(self) -> tuple[int, float]:
        """Pictures taken (main keyframes decoded plus sub-stream sessions) and their CPU s."""
        sampler = self.sampler
        if sampler is None:
            return self.pictures, self.picture_cpu_s
        return self.pictures + sampler.pictures, self.picture_cpu_s + sampler.cpu_s

    def recording_path(self) -> Path | None:
        """The segment file being written now (retention and the sweep leave it alone)."""
        recorder = self._recorder
        return recorder.current_path if recorder is not None else None

    def request_snapshot(self) -> SnapshotRequest:
        request = SnapshotRequest()
        with self._lock:
            self._snapshots.append(request)
        return request

    def cancel_snapshot(self, request: SnapshotRequest) -> None:
        with self._lock:
            if request in self._snapshots:
                self._snapshots.remove(request)

    # -- state and events --------------------------------------------------------------------

    def _set_state(self, state: CameraState, error: str | None = None) -> bool:
        with self._lock:
            changed = state != self._state or error != self._error
            if state != self._state:
                self._since = self._clock()
            self._state, self._error = state, error
        if changed:
            self._sink.camera_changed(self.slot)
        return changed

    def _emit(self, body: Any) -> None:
        try:
            self._sink.event(body, self._clock())
        except Exception:
            log.exception("slot %s: event sink failed for %s", self.slot, type(body).__name__)

    def _fault(self, problem: str, raised: bool, detail: str | None = None) -> None:
        if raised == (problem in self._faults_raised):
            return
        if raised:
            self._faults_raised.add(problem)
        else:
            self._faults_raised.discard(problem)
        state = "raised" if raised else "cleared"
        self._emit(CameraFaultEvent(slot=self.slot, problem=problem, state=state, detail=detail))

    def _went_down(self, state: CameraState, reason: str) -> None:
        """Offline or stalled (worker thread): finish the segment, remember why for the gap."""
        self._stop_recording(f"camera {state.value}: {reason}")
        self._mark_down(state, reason)

    def _mark_down(self, state: CameraState, reason: str) -> None:
        """State change and one event per transition (worker thread or watchdog)."""
        with self._transition:
            previous = self._state
            if previous == CameraState.STALLED and state == CameraState.OFFLINE:
                log.info("slot %s: still down (%s)", self.slot, reason)
                return  # a stalled stream that then fails is still the same outage
            self._set_state(state, reason)
            if previous == state:
                return
            if state == CameraState.STALLED:
                self.stats.stalled(time.monotonic())
        if state in (CameraState.STALLED, CameraState.OFFLINE):
            kind = "camera_stalled" if state == CameraState.STALLED else "camera_offline"
            log.warning("slot %s: %s (%s)", self.slot, kind, reason)
            self._emit(CameraConnectivityEvent(type=kind, slot=self.slot, reason=reason[:500]))

    def watchdog(self, now: float) -> None:
        """Called every second from the pipeline: a silent camera is stalled, even mid-read."""
        if self._state != CameraState.ONLINE:
            return
        silent = now - self._last_packet_mono
        if silent >= self.settings.stall_after_s:
            self._mark_down(CameraState.STALLED, f"no media for {silent:.0f} s")

    # -- the loop ----------------------------------------------------------------------------

    def _pin(self) -> None:
        """Bind the calling thread (the worker's or its sampler's) to the camera CPU."""
        if self.settings.one_cpu:
            _pin_to(camera_cpu(), self.slot)

    def _run(self) -> None:
        self._pin()
        failures = 0
        while not self._stop.is_set():
            delay = 0.0
            try:
                healthy = self._session()
                failures = 0 if healthy else failures + 1
                if not self._stop.is_set():
                    self.stats.reconnected(time.monotonic())
            except UnsupportedUrl as exc:
                self._set_state(CameraState.ERROR, str(exc))
                self._fault("unsupported_url", True, str(exc))
                log.error("slot %s: %s; waiting for a new configuration", self.slot, exc)
                self._stop.wait()
                break
            except Exception:
                log.exception("slot %s: worker loop failed; reconnecting", self.slot)
                failures += 1
            finally:
                self._stop_recording("camera worker restarting")
            s = self.settings
            delay = min(s.backoff_max_s, s.backoff_initial_s * 2 ** max(0, failures - 1))
            if failures and not self._stop.is_set():
                log.info("slot %s: reconnecting in %.0f s", self.slot, delay)
                self._stop.wait(delay)
        self._stop_recording("agent stopped")

    def _session(self) -> bool:
        """One connection, until it breaks; True if it delivered healthily for a while."""
        try:
            url = stream_url(self.camera)
        except CredentialError as exc:
            self._fault("auth_failed", True, str(exc))
            self._went_down(CameraState.ERROR, f"credentials: {exc}")
            return False
        s = self.settings
        try:
            source = open_source(
                url,
                open_timeout_s=s.open_timeout_s,
                read_timeout_s=s.stall_after_s + READ_GRACE_S,
            )
        except UnsupportedUrl:
            raise
        except UnsupportedCodec as exc:
            self._fault("unsupported_codec", True, str(exc))
            self._went_down(CameraState.ERROR, str(exc))
            return False
        except SourceError as exc:
            if exc.auth:
                self._fault("auth_failed", True, str(exc))
            self._went_down(CameraState.OFFLINE, str(exc))
            return False
        self._fault("unsupported_codec", False)
        self._fault("auth_failed", False)
        self._fault("unsupported_url", False)
        try:
            return self._read(source)
        finally:
            source.close()

    def _read(self, source: OpenSource) -> bool:
        """Read packets until the session ends; True if it delivered healthily for a while.

        This loop runs for every packet of every camera (about 400 a second on a full box),
        so the per-packet path keeps to local names and integer/float arithmetic: the stream
        clock, wall-clock time and anything that takes a lock happen once per keyframe or
        less (docs/performance.md, "where the CPU goes").
        """
        s = self.settings
        stall_after_s = s.stall_after_s
        no_keyframe_after_s = s.no_keyframe_after_s
        quality = s.quality
        self.stats.connected(source.format)
        self._diagnoser.reset()
        decoder = KeyframeDecoder(source.video)
        video_index = source.video.index
        stop = self._stop
        stats_packet = self.stats.packet
        seconds_per_tick = float(source.video.time_base or 0)
        record = self._record
        monotonic = time.monotonic
        stalled = CameraState.STALLED
        connected_at = monotonic()
        last_packet = connected_at
        last_key = connected_at
        last_sample = 0.0
        started = online = False
        no_keyframe = "no_keyframe" in self._faults_raised  # may be left from a past session
        first_packet = connected_at
        sampler = self.sampler
        try:
            for packet in source.container.demux():
                if stop.is_set():
                    return True
                now = monotonic()
                if packet.stream_index != video_index:
                    if now - last_packet > stall_after_s:
                        break  # audio alone is not a camera that delivers
                    continue
                size = packet.size
                dts = packet.dts
                if size == 0 or dts is None:
                    continue
                if online and self._state is stalled:
                    break  # the watchdog gave up on this session: reconnect cleanly
                last_packet = now
                self._last_packet_mono = now
                keyframe = packet.is_keyframe
                stats_packet(now, dts * seconds_per_tick, size, keyframe)
                if not online:
                    if not started:
                        started = True
                        self._packets_seen = True
                        first_packet = now
                        self._begin_recording(source, self._clock())
                    if now - first_packet >= ONLINE_AFTER_S:
                        online = True  # one keyframe then silence is not a camera that delivers
                        self._came_online(source)
                if keyframe:
                    last_key = now
                    if no_keyframe:
                        no_keyframe = False
                        self._fault("no_keyframe", False)
                    sample = quality.enabled and now - last_sample >= quality.sample_interval_s
                    if sample and sampler is not None and sampler.active:
                        sample = False  # the sub stream feeds the checks
                    if sample:
                        last_sample = now
                    if sample or self._snapshot_waiting():
                        self._picture(decoder, packet, self._clock(), diagnose=sample)
                elif not no_keyframe and now - last_key > no_keyframe_after_s:
                    no_keyframe = True
                    self._fault("no_keyframe", True, f"no keyframe for {now - last_key:.0f} s")
                record(packet, dts, keyframe)
        except av.FFmpegError as exc:
            if stop.is_set():
                return True
            if monotonic() - last_packet >= stall_after_s * 0.8 and started:
                self._went_down(CameraState.STALLED, f"no media for {stall_after_s:.0f} s")
            else:
                reason = ffmpeg_reason(exc, waited_s=stall_after_s + READ_GRACE_S)
                self._went_down(CameraState.OFFLINE, f"stream failed: {reason}")
            return monotonic() - connected_at >= s.healthy_after_s
        if stop.is_set():
            return True
        if started and (
            self._state == CameraState.STALLED or monotonic() - last_packet > stall_after_s
        ):
            self._went_down(CameraState.STALLED, f"no video for {stall_after_s:.0f} s")
        else:
            self._went_down(CameraState.OFFLINE, "stream ended")
        return monotonic() - connected_at >= s.healthy_after_s

    def _came_online(self, source: OpenSource) -> None:
        with self._transition:
            self._last_packet_mono = time.monotonic()
            previous = self._state
            self._set_state(CameraState.ONLINE)
        if previous != CameraState.ONLINE:
            log.info(
                "slot %s: online (%s %sx%s)",
                self.slot,
                source.format.codec,
                source.format.width,
                source.format.height,
            )
            self._emit(CameraConnectivityEvent(type="camera_online", slot=self.slot))

    def _begin_recording(self, source: OpenSource, wall: datetime) -> None:
        if self._recorder is not None:
            try:
                self._recorder.begin(source.video, wall)
            except RecorderError as exc:
                log.error("slot %s: %s", self.slot, exc)

    def _snapshot_waiting(self) -> bool:
        with self._lock:
            return bool(self._snapshots)

    def _picture(
        self, decoder: KeyframeDecoder, packet: av.Packet, wall: datetime, *, diagnose: bool
    ) -> None:
        """Decode one keyframe for the diagnoser and any waiting snapshot."""
        started = time.thread_time()
        try:
            self._check_picture(decoder, packet, wall, diagnose=diagnose)
        finally:
            self.pictures += 1
            self.picture_cpu_s += time.thread_time() - started

    def _check_picture(
        self, decoder: KeyframeDecoder, packet: av.Packet, wall: datetime, *, diagnose: bool
    ) -> None:
        try:
            frame = decoder.decode(packet)
        except Exception:
            log.exception("slot %s: keyframe decode failed", self.slot)
            return
        if frame is None:
            return
        with self._lock:
            waiting, self._snapshots = self._snapshots, []
        for request in waiting:
            request.fulfil(frame, wall)
        if diagnose:
            self._judge(frame, wall, "main")

    def _judge(self, frame: av.VideoFrame, wall: datetime, source: str) -> None:
        """Check one picture (worker thread: "main"; sampler thread: "sub"); emit transitions.

        A change of source forgets the previous picture and pending counts (a frozen check
        across two streams means nothing); raised faults and the baseline stay, since both
        streams measure alike at the analysis size (docs/quality.md).
        """
        try:
            with self._judging:
                if source != self._picture_source:
                    if self._picture_source is not None:
                        log.info(
                            "slot %s: picture checks now from the %s stream", self.slot, source
                        )
                        self._diagnoser.reset()
                    self._picture_source = source
                transitions = self._diagnoser.observe(frame, wall)
        except Exception:
            log.exception("slot %s: picture check failed", self.slot)
            return
        for t in transitions:
            self._emit(
                QualityFaultEvent(
                    slot=self.slot,
                    fault=t.fault,
                    state=t.state,
                    value=t.value,
                    threshold=t.threshold,
                )
            )
        if transitions:
            self._sink.camera_changed(self.slot)

    # -- recording ---------------------------------------------------------------------------

    def _record(self, packet: av.Packet, dts: int, keyframe: bool) -> None:
        """Hand one video packet (its `dts` and key flag already read) to the recorder."""
        recorder = self._recorder
        if recorder is None or not self._storage.writable:
            if self._recording:
                self._stop_recording("storage unavailable")
            return
        try:
            recorder.write(packet, dts, keyframe)
        except RecorderError as exc:
            log.error("slot %s: recording stopped: %s", self.slot, exc)
            self._stop_recording("storage fault")
            self._storage.failed(str(exc))
            return
        except Exception:
            log.exception("slot %s: recorder failed on a packet", self.slot)
            return
        if not self._recording and recorder.recording:
            self._recording_resumed(recorder)

    def _recording_resumed(self, recorder: SegmentRecorder) -> None:
        start = recorder.current_start
        with self._lock:
            self._recording = True
        self._sink.camera_changed(self.slot)
        if start is None or self._recorded_until is None or self._index is None:
            return
        gap_start = self._recorded_until
        if (start - gap_start).total_seconds() > MIN_GAP_S:
            reason = self._gap_reason
            try:
                self._index.add_gap(self.slot, gap_start, start, reason)
            except Exception:
                log.exception("slot %s: could not index a gap", self.slot)
            log.info("slot %s: recording gap %s .. %s (%s)", self.slot, gap_start, start, reason)
            self._emit(RecordingGapEvent(slot=self.slot, start=gap_start, end=start, reason=reason))

    def _stop_recording(self, reason: str) -> None:
        recorder = self._recorder
        if recorder is not None:
            try:
                recorder.finish()
            except Exception:
                log.exception("slot %s: finishing a segment failed", self.slot)
            if recorder.last_end is not None:
                self._recorded_until = recorder.last_end
        if self._recording:
            self._gap_reason = reason
            with self._lock:
                self._recording = False
            self._sink.camera_changed(self.slot)


class Watchdog(PeriodicRole):
    """Judges every worker once a second by when its last packet arrived."""

    def __init__(self, workers: Callable[[], list[CameraWorker]], interval_s: float = 1.0) -> None:
        super().__init__("camera-watchdog", interval_s, join_timeout_s=5.0)
        self._workers = workers

    def tick(self) -> None:
        now = time.monotonic()
        for worker in self._workers():
            try:
                worker.watchdog(now)
            except Exception:
                log.exception("slot %s: watchdog check failed", worker.slot)
