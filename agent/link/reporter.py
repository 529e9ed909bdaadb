"""What the box tells the centre on its own: events, camera status and telemetry.

`Reporter` is the `EventSink` the pipeline reports to. Events are durable (outbox first).
Camera status is retained per slot and published live: on every change the pipeline signals,
for every camera after each (re)connect, and on the slow heartbeat. Telemetry goes out every
telemetry interval. Intervals are read from the applied configuration each cycle, so a config
push changes them without a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent.interfaces import CameraView, Pipeline
from agent.link.clock import Clock
from agent.link.publisher import Publisher
from agent.roles import PeriodicRole
from protocol import CameraState, CameraStatus, Event, EventBody, ReportingConfig, Telemetry

__all__ = ["Reporter"]

log = logging.getLogger(__name__)


class Reporter(PeriodicRole):
    """EventSink implementation plus the status-heartbeat and telemetry loop."""

    def __init__(
        self,
        publisher: Publisher,
        *,
        reporting: Callable[[], ReportingConfig],
        telemetry_figures: Callable[[], dict[str, Any]],
        clock: Clock,
    ) -> None:
        super().__init__("link-reporter", 1.0, join_timeout_s=2.0, daemon=True, tick_at_start=True)
        self.publisher = publisher
        self._reporting = reporting
        self._figures = telemetry_figures
        self._clock = clock
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()
        self._dirty: set[int] = set()
        self._resend_all = False
        now = clock.monotonic()
        self._next_heartbeat = now
        self._next_telemetry = now
        self._started = now
        self.events_recorded = 0
        self.events_refused = 0
        self.statuses_sent = 0
        self.telemetry_sent = 0

    # -- EventSink -----------------------------------------------------------------------

    def event(self, body: EventBody, occurred_at: datetime | None = None) -> None:
        """Record an event durably; it reaches the centre when the link allows."""
        message = Event(
            **self.publisher.envelope(),
            occurred_at=occurred_at or self._clock.now(),
            body=body,
        )
        if self.publisher.durable(message):
            self.events_recorded += 1
        else:
            self.events_refused += 1

    def camera_changed(self, slot: int) -> None:
        """Publish this camera's status soon (from the reporter thread, never the caller's)."""
        with self._lock:
            self._dirty.add(slot)
        self.wake()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, pipeline: Pipeline | None = None) -> None:
        """Start reporting on `pipeline` (required before the first start)."""
        if pipeline is not None:
            self._pipeline = pipeline
        super().start()

    def link_up(self) -> None:
        """After every connect the centre gets every camera's status again."""
        with self._lock:
            self._resend_all = True
        self.wake()

    # -- the loop ------------------------------------------------------------------------

    def next_wait_s(self) -> float:
        """Until the heartbeat or telemetry is due, at most a second (intervals may change)."""
        now = self._clock.monotonic()
        wait = max(0.05, min(self._next_heartbeat, self._next_telemetry) - now)
        return min(wait, 1.0)

    def tick(self) -> None:
        """Do whatever is due now: changed statuses, the heartbeat, telemetry."""
        if not self.publisher.link.connected or self._pipeline is None:
            return
        reporting = self._reporting()
        now = self._clock.monotonic()
        with self._lock:
            resend_all, self._resend_all = self._resend_all, False
            dirty, self._dirty = self._dirty, set()
        if now >= self._next_heartbeat:
            resend_all = True
        if resend_all or dirty:
            views = self._views()
            for view in views:
                if resend_all or view.slot in dirty:
                    self._send_status(view)
            if resend_all:
                self._next_heartbeat = now + reporting.status_heartbeat_s
        if now >= self._next_telemetry:
            self._send_telemetry()
            self._next_telemetry = now + reporting.telemetry_interval_s

    def _views(self) -> list[CameraView]:
        assert self._pipeline is not None
        return self._pipeline.cameras()

    def _send_status(self, view: CameraView) -> None:
        message = CameraStatus(
            **self.publisher.envelope(),
            slot=view.slot,
            state=view.state,
            since=view.since,
            last_packet_at=view.last_packet_at,
            recording=view.recording,
            completeness=view.completeness,
            stream=view.stream,
            faults=list(view.faults)[:16],
            error=(view.error or None) and view.error[:500],
        )
        if self.publisher.live(message):
            self.statuses_sent += 1
        else:
            with self._lock:
                self._dirty.add(view.slot)

    def _send_telemetry(self) -> None:
        link = self.publisher.link
        outbox = self.publisher.outbox
        views = self._views()
        figures = {"uptime_s": max(0.0, self._clock.monotonic() - self._started)}
        figures.update(self._figures())
        message = Telemetry(
            **self.publisher.envelope(),
            **figures,
            uplink_rtt_ms=link.state.rtt_ms,
            outbox_backlog=outbox.backlog,
            outbox_dropped=outbox.dropped,
            link_reconnects=link.state.reconnects,
            link="up" if link.connected else "down",
            cameras_online=sum(1 for v in views if v.state is CameraState.ONLINE),
            cameras_recording=sum(1 for v in views if v.recording),
        )
        if self.publisher.live(message):
            self.telemetry_sent += 1
