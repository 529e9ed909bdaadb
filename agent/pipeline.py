"""CameraPipeline: the camera workers, the recording index, retention and the storage watch.

It runs from a `BoxConfig` (which the centre may replace at run time through `apply`), the
storage root and an `EventSink`. A store that cannot be written (unwritable path, full disk,
corrupt index) is reported and the cameras are still watched and reported, just not recorded.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from agent import clips
from agent.camera import CameraWorker, StorageGate, Watchdog, WorkerSettings
from agent.credentials import CredentialError, resolve_secret, stream_url
from agent.index import RecordingIndex
from agent.interfaces import CameraView, CommandFailed, ConfigRejected, EventSink, Snapshot
from agent.retention import Retention
from agent.snapshot import encode_jpeg
from agent.source import SourceError, probe_url
from agent.storage import DiskUsageFn, StorageWatch, check_writable, disk_usage
from agent.substream import grab_keyframe, sub_stream_credentials_url, sub_stream_url
from protocol import (
    BoxConfig,
    CameraCapabilities,
    CameraConfig,
    CameraInventory,
    CameraState,
    ClipResult,
    CommandErrorCode,
    ConfigIssue,
    ProbeResult,
    RecordingConfig,
    RecordingSearchResult,
    StorageFaultEvent,
    utc_now,
)

__all__ = ["INDEX_FILE", "CameraPipeline"]

log = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite"
COMPLETENESS_REFRESH_S = 10.0


class CameraPipeline:
    """Implements `agent.interfaces.Pipeline`."""

    def __init__(
        self,
        config: BoxConfig,
        storage_path: Path,
        sink: EventSink,
        *,
        timing: WorkerSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        usage: DiskUsageFn = disk_usage,
        retention_interval_s: float = 60.0,
        storage_check_s: float = 30.0,
    ) -> None:
        self.root = storage_path
        self._config = config
        self._sink = sink
        self._clock = clock
        self._completeness_cache: dict[int, tuple[float, float | None]] = {}
        self._usage = usage
        self._timing = timing or WorkerSettings()
        self._retention_interval_s = retention_interval_s
        self._lock = threading.RLock()
        self._workers: dict[int, CameraWorker] = {}
        self.index: RecordingIndex | None = None
        self.retention: Retention | None = None
        self._gate = StorageGate(self._storage_failed)
        self._watch = StorageWatch(
            self.root / "rec", self._storage_restored, interval_s=storage_check_s
        )
        self._watchdog = Watchdog(self._worker_list)
        self._started = False

    def _worker_list(self) -> list[CameraWorker]:
        with self._lock:
            return list(self._workers.values())

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._open_store()
            for camera in self._config.cameras:
                self._workers[camera.slot] = self._new_worker(camera)
            for worker in self._workers.values():
                worker.start()
            if self.retention is not None:
                self.retention.start()
            self._watch.start()
            self._watchdog.start()
            self._started = True
        log.info("pipeline started: %d cameras, storage %s", len(self._workers), self.root)

    def stop(self) -> None:
        self._watchdog.stop()
        with self._lock:
            workers = list(self._workers.values())
            for worker in workers:
                worker.signal_stop()
            for worker in workers:
                worker.join()
            if self.retention is not None:
                self.retention.stop()
            self._watch.stop()
            if self.index is not None:
                self.index.close()
            self._started = False
        log.info("pipeline stopped")

    def _open_store(self) -> None:
        """Open the index and repair it against the files; report what is wrong."""
        problem = check_writable(self.root / "rec")
        if problem is not None:
            self._report_storage("unwritable", problem)
            self._gate.failed(problem)
            return
        try:
            index = RecordingIndex(self.root / INDEX_FILE, self.root)
        except Exception as exc:
            self._report_storage("index_corrupt", f"index unusable: {exc}")
            self._gate.failed(str(exc))
            return
        if index.recovered_from_corruption:
            self._report_storage("index_corrupt", index.recovered_from_corruption)
        self.index = index
        self.retention = Retention(
            index,
            self.root,
            self._sink,
            self._recording_config,
            active_paths=self._active_paths,
            clock=self._clock,
            usage=self._usage,
            interval_s=self._retention_interval_s,
        )
        report = self.retention.sweep(repair_open=True)
        if report.adopted or report.removed or report.dropped_rows or report.repaired_rows:
            log.info(
                "reconciled index: %d adopted, %d removed, %d rows dropped, %d repaired",
                len(report.adopted),
                len(report.removed),
                report.dropped_rows,
                report.repaired_rows,
            )
        if index.recovered_from_corruption:
            self._sink.event(
                StorageFaultEvent(
                    path=str(self.root)[:256],
                    problem="index_corrupt",
                    state="cleared",
                    detail=f"index rebuilt from {len(report.adopted)} segment files",
                ),
                self._clock(),
            )

    def _report_storage(self, problem: str, detail: str) -> None:
        log.error("storage fault (%s): %s", problem, detail)
        self._sink.event(
            StorageFaultEvent(
                path=str(self.root)[:256],
                problem=problem,
                state="raised",
                detail=detail[:500],
            ),
            self._clock(),
        )

    def _storage_failed(self, detail: str) -> None:
        full = "No space" in detail or f"[Errno {errno.ENOSPC}]" in detail
        self._report_storage("full" if full else "io_error", detail)
        self._watch.broken()

    def _storage_restored(self) -> None:
        log.info("storage %s is writable again", self.root)
        with self._lock:
            if self.index is None:
                self._open_store()
                if self.index is None:
                    return
                for slot in list(self._workers):
                    self._restart(slot)
                if self.retention is not None and self._started:
                    self.retention.start()
        self._gate.restored()
        self._sink.event(
            StorageFaultEvent(path=str(self.root)[:256], problem="io_error", state="cleared"),
            self._clock(),
        )

    # -- configuration -----------------------------------------------------------------------

    def _recording_config(self) -> RecordingConfig:
        return self._config.recording

    def _settings(self, config: BoxConfig) -> WorkerSettings:
        return replace(
            self._timing,
            segment_seconds=config.recording.segment_seconds,
            quality=config.quality,
        )

    def _new_worker(
        self, camera: CameraConfig, previous: CameraWorker | None = None
    ) -> CameraWorker:
        return CameraWorker(
            camera,
            self._settings(self._config),
            self._sink,
            self.index,
            self._gate,
            root=self.root if self.index is not None else None,
            clock=self._clock,
            raised_faults=previous.raised_faults if previous is not None else None,
        )

    def _restart(self, slot: int) -> None:
        old = self._workers[slot]
        old.stop()
        worker = self._new_worker(old.camera, old)
        self._workers[slot] = worker
        worker.start()

    def apply(self, config: BoxConfig) -> None:
        issues: list[ConfigIssue] = []
        for number, camera in enumerate(config.cameras):
            if camera.enabled and camera.password_ref is not None:
                try:
                    resolve_secret(camera.password_ref)
                except CredentialError as exc:
                    issues.append(
                        ConfigIssue(path=f"cameras.{number}.password_ref", message=str(exc))
                    )
        if issues:
            raise ConfigRejected(issues)
        with self._lock:
            old = {c.slot: c for c in self._config.cameras}
            new = {c.slot: c for c in config.cameras}
            self._config = config
            settings = self._settings(config)
            going = [s for s in old if s not in new or old[s] != new[s]]
            stopped: dict[int, CameraWorker] = {}
            for slot in going:
                if slot in self._workers:
                    self._workers[slot].signal_stop()
            for slot in going:
                if slot in self._workers:
                    stopped[slot] = self._workers.pop(slot)
                    stopped[slot].join()
            for worker in self._workers.values():
                worker.update_settings(settings)
            for slot, camera in new.items():
                if slot not in self._workers:
                    worker = self._new_worker(camera, stopped.get(slot))
                    self._workers[slot] = worker
                    if self._started:
                        worker.start()
        for slot in set(going) | (set(new) - set(old)):
            self._sink.camera_changed(slot)
        log.info("configuration applied: %d cameras, %d restarted", len(new), len(going))

    # -- views and commands ------------------------------------------------------------------

    def _worker(self, slot: int) -> CameraWorker:
        with self._lock:
            worker = self._workers.get(slot)
        if worker is None:
            raise CommandFailed(CommandErrorCode.UNKNOWN_SLOT, f"no camera in slot {slot}")
        return worker

    def _store(self) -> RecordingIndex:
        if self.index is None:
            raise CommandFailed(CommandErrorCode.FAILED, "the recording store is unavailable")
        return self.index

    def cameras(self) -> list[CameraView]:
        with self._lock:
            workers = sorted(self._workers.values(), key=lambda w: w.slot)
        return [
            replace(view, completeness=self._today_completeness(view.slot))
            for view in (w.view() for w in workers)
        ]

    def _today_completeness(self, slot: int) -> float | None:
        """Today's recorded share for `slot`, from the index at most once a minute per camera.

        Statuses are built often (every change, every heartbeat); the figure moves slowly.
        """
        now = time.monotonic()
        cached = self._completeness_cache.get(slot)
        if cached is not None and now - cached[0] < COMPLETENESS_REFRESH_S:
            return cached[1]
        try:
            value = self.completeness(slot, self._clock())
        except Exception:  # an unavailable or damaged index must not stop status reports
            log.debug("completeness of slot %s unavailable", slot, exc_info=True)
            value = None
        if value is not None:  # nothing recorded yet: ask again next time
            value = min(1.0, max(0.0, value))
            self._completeness_cache[slot] = (now, value)
        return value

    def inventory(self) -> list[CameraInventory]:
        result = []
        for camera in self._config.cameras:
            worker = self._workers.get(camera.slot)
            fmt = worker.stats.format if worker is not None else None
            result.append(
                CameraInventory(
                    slot=camera.slot,
                    name=camera.name,
                    enabled=camera.enabled,
                    profile=camera.profile,
                    capabilities=CameraCapabilities(
                        audio=bool(fmt and fmt.audio_codec),
                        substream=sub_stream_url(camera) is not None,
                        onvif=camera.onvif_port is not None,
                    ),
                )
            )
        return result

    def snapshot(self, slot: int, *, sub_stream: bool = False, timeout: float = 10.0) -> Snapshot:
        worker = self._worker(slot)
        if sub_stream and worker.sub_url:
            try:
                url = sub_stream_credentials_url(worker.camera, worker.sub_url)
                frame = grab_keyframe(url, budget_s=timeout)
            except (SourceError, CredentialError) as exc:
                raise CommandFailed(CommandErrorCode.CAMERA_OFFLINE, str(exc)) from exc
            taken_at = self._clock()
        else:
            state = worker.view().state
            if state not in (CameraState.ONLINE, CameraState.CONNECTING):
                # A camera still connecting gets until the deadline to send its first keyframe;
                # one known to be down is answered at once.
                raise CommandFailed(
                    CommandErrorCode.CAMERA_OFFLINE, f"camera {slot} is {state.value}"
                )
            request = worker.request_snapshot()
            if not request.wait(timeout):
                worker.cancel_snapshot(request)
                raise CommandFailed(
                    CommandErrorCode.CAMERA_OFFLINE, f"no keyframe from camera {slot} in time"
                )
            frame, taken_at = request.frame, request.taken_at or self._clock()
        try:
            jpeg = encode_jpeg(frame)
        except Exception as exc:
            raise CommandFailed(CommandErrorCode.FAILED, f"JPEG encoding failed: {exc}") from exc
        return Snapshot(slot, jpeg, int(frame.width), int(frame.height), taken_at)

    def search(self, slot: int, start: datetime, end: datetime) -> RecordingSearchResult:
        self._worker(slot)
        return clips.search(self._store(), slot, start, end)

    def export_clip(
        self,
        slot: int,
        start: datetime,
        end: datetime,
        destination: Path,
        *,
        progress: Callable[[float], None],
        cancelled: Callable[[], bool],
    ) -> ClipResult:
        self._worker(slot)
        return clips.export_clip(
            self._store(), slot, start, end, destination, progress=progress, cancelled=cancelled
        )

    def probe(self, slot: int, *, timeout: float = 10.0) -> ProbeResult:
        worker = self._worker(slot)
        try:
            stats = probe_url(stream_url(worker.camera), timeout_s=timeout)
        except (SourceError, CredentialError) as exc:
            return ProbeResult(slot=slot, reachable=False, detail=str(exc)[:500])
        return ProbeResult(slot=slot, reachable=True, stream=stats)

    def picture_cost(self) -> tuple[int, float]:
        """Pictures taken for checks and snapshots (main-stream keyframes decoded and
        sub-stream sessions), and the CPU seconds they took, summed over the current workers
        (how much of the agent's CPU the picture checks are)."""
        costs = [w.picture_cost() for w in self._worker_list()]
        return sum(c[0] for c in costs), sum(c[1] for c in costs)

    def completeness(self, slot: int, day: datetime) -> float | None:
        """Recorded / scheduled seconds of one camera on one UTC day (None before it began).

        Recording is due from the camera's first segment or gap on, so a camera added at noon
        is not judged on the morning it did not exist.
        """
        store = self._store()
        return store.completeness(
            slot, day.date(), now=self._clock(), scheduled_from=store.first_record(slot)
        )

    def _active_paths(self) -> list[Path]:
        with self._lock:
            workers = list(self._workers.values())
        return [p for w in workers if (p := w.recording_path()) is not None]
