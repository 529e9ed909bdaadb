"""Retention: delete footage by age, and by disk reserve (oldest first across cameras).

Every minute or so: segments older than `retention_days` go; then, while free space is below
`min_free_percent`, the oldest finished segments go, whatever their camera; below
`emergency_free_percent` the purge is reported as an emergency. If the reserve cannot be
restored (the disk is filled by something else), a DiskPressureEvent is raised, and cleared
once free space is back. Every deletion is reported with a RetentionPurgeEvent. The reconcile
sweep runs from here too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from agent.index import RecordingIndex, Segment
from agent.interfaces import EventSink
from agent.roles import PeriodicRole
from agent.storage import DiskUsageFn, ReconcileReport, disk_usage, free_percent, reconcile
from protocol import DiskPressureEvent, RecordingConfig, RetentionPurgeEvent, utc_now

__all__ = ["PurgeOutcome", "Retention"]

log = logging.getLogger(__name__)

BATCH = 50


@dataclass(frozen=True)
class PurgeOutcome:
    """What one retention pass deleted, per reason."""

    by_age: int = 0
    by_reserve: int = 0
    emergency: bool = False
    freed_bytes: int = 0
    free_percent: float = 100.0


class Retention(PeriodicRole):
    """The retention and reconcile role; one per box."""

    def __init__(
        self,
        index: RecordingIndex,
        root: Path,
        sink: EventSink,
        settings: Callable[[], RecordingConfig],
        *,
        active_paths: Callable[[], Collection[Path]] = tuple,
        clock: Callable[[], datetime] = utc_now,
        usage: DiskUsageFn = disk_usage,
        interval_s: float = 60.0,
        sweep_every: int = 10,
    ) -> None:
        super().__init__("retention", interval_s, join_timeout_s=10.0, tick_at_start=True)
        self.index = index
        self.root = root
        self._sink = sink
        self._settings = settings
        self._active = active_paths
        self._clock = clock
        self._usage = usage
        self._sweep_every = sweep_every
        self._runs = 0
        self._pressure = False

    def tick(self) -> None:
        """One pass; every `sweep_every` passes (the first included) a reconcile sweep too."""
        runs, self._runs = self._runs, self._runs + 1
        try:
            self.run_once()
            if runs % self._sweep_every == 0:
                self.sweep()
        except Exception:
            log.exception("retention pass failed; trying again in %.0f s", self.interval_s)

    def sweep(self, *, repair_open: bool = False) -> ReconcileReport:
        """Reconcile index and files (see agent.storage.reconcile)."""
        return reconcile(self.index, self.root, active=self._active(), repair_open=repair_open)

    def _free(self) -> float:
        return free_percent(self._usage(self.root))

    def _delete(self, segments: list[Segment]) -> int:
        freed = 0
        done: list[int] = []
        for seg in segments:
            try:
                size = seg.path.stat().st_size
                seg.path.unlink()
                freed += size
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("slot %s: cannot delete %s: %s", seg.slot, seg.path, exc.strerror)
                continue
            done.append(seg.id)
        self.index.delete_segments(done)
        return freed

    def _report(self, reason: str, count: int, freed: int) -> None:
        if count == 0:
            return
        log.info("retention (%s): deleted %d segments, %d bytes", reason, count, freed)
        body = RetentionPurgeEvent(
            reason=reason,
            segments=count,
            freed_bytes=freed,
            oldest_kept=self.index.oldest_start(),
        )
        self._sink.event(body, self._clock())

    def run_once(self) -> PurgeOutcome:
        """One pass: age, then reserve; events for what was deleted and for pressure."""
        config = self._settings()
        now = self._clock()
        cutoff = now - timedelta(days=config.retention_days)
        aged = 0
        aged_bytes = 0
        active = set(self._active())
        while batch := [s for s in self.index.oldest_segments(BATCH, before=cutoff)]:
            batch = [s for s in batch if s.path not in active]
            if not batch:
                break
            aged_bytes += self._delete(batch)
            aged += len(batch)
        self.index.delete_gaps_before(cutoff)
        self._report("age", aged, aged_bytes)

        free = self._free()
        emergency = free < config.emergency_free_percent
        reserve = 0
        reserve_bytes = 0
        while free < config.min_free_percent:
            batch = [s for s in self.index.oldest_segments(BATCH) if s.path not in active]
            if not batch:
                break
            for segment in batch:  # one at a time: delete no more than the reserve needs
                reserve_bytes += self._delete([segment])
                reserve += 1
                free = self._free()
                if free >= config.min_free_percent:
                    break
        self._report("emergency" if emergency else "reserve", reserve, reserve_bytes)
        self._judge_pressure(free, config, emergency)
        return PurgeOutcome(aged, reserve, emergency, aged_bytes + reserve_bytes, free)

    def _judge_pressure(self, free: float, config: RecordingConfig, emergency: bool) -> None:
        below = free < config.min_free_percent or emergency
        if below == self._pressure:
            return
        self._pressure = below
        state = "raised" if below else "cleared"
        log.warning("disk pressure %s: %.1f %% free on %s", state, free, self.root)
        self._sink.event(
            DiskPressureEvent(
                path=str(self.root)[:256],
                free_percent=max(0.0, min(100.0, free)),
                threshold_percent=config.min_free_percent,
                state=state,
            ),
            self._clock(),
        )
