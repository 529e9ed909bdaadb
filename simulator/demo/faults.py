"""The demo's fault timeline: break things on a schedule so alarms can be watched.

A `FaultInjector` walks a timeline of `Injection`s (at T seconds: break this for D seconds),
repeating it every `period_s`. Each injection and each repair is logged on one line
(`fault injected: camera jh-0001-a/1 gone for 60 s`) so a watcher can line it up with the
alarms arriving in the API. What can be broken is behind the `FaultTargets` seam: a real
simulated camera (the RTSP server's faults) or a simulated box's uplink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

__all__ = [
    "DEFAULT_TIMELINE",
    "FaultInjector",
    "FaultTargets",
    "Injection",
    "InjectionRecord",
    "scaled",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Injection:
    """At `at_s` into each period, put `fault` on `target` for `duration_s`.

    `kind` is `camera` (target: the n-th real camera of the demo, from 1; fault one of the
    camera simulator's faults) or `uplink` (target: the n-th simulated box, from 1).
    """

    at_s: float
    kind: str
    target: int
    fault: str
    duration_s: float
    why: str


DEFAULT_TIMELINE: tuple[Injection, ...] = (
    Injection(30, "camera", 1, "gone", 60, "a real camera goes dark (RTSP server stops)"),
    Injection(60, "uplink", 1, "uplink", 90, "a simulated box loses its uplink"),
    Injection(100, "camera", 2, "blur", 90, "a real camera gets blurred"),
    Injection(160, "camera", 3, "cover", 60, "a real camera is covered"),
    Injection(200, "uplink", 2, "uplink", 60, "another simulated box drops off"),
    Injection(230, "camera", 1, "black", 45, "a real camera loses its signal"),
)
DEFAULT_PERIOD_S = 300.0


def scaled(timeline: Sequence[Injection], factor: float) -> tuple[Injection, ...]:
    """The same timeline `factor` times as fast (0.1 = ten times faster), for tests."""
    return tuple(
        replace(i, at_s=i.at_s * factor, duration_s=max(i.duration_s * factor, 1.0))
        for i in timeline
    )


class FaultTargets(Protocol):
    """What the injector can break; the demo's runner provides it."""

    def camera_count(self) -> int: ...

    def set_camera_fault(self, number: int, fault: str) -> str:
        """Put `fault` ("none" clears) on real camera `number`; returns its name for the log."""

    def box_count(self) -> int: ...

    def drop_uplink(self, number: int, duration_s: float) -> str:
        """Cut simulated box `number` off for `duration_s`; returns its box id."""


@dataclass(frozen=True)
class InjectionRecord:
    """One thing the injector did, for the log and for tests."""

    at: float  # time.time()
    action: str  # injected or cleared
    kind: str
    target: str
    fault: str


class FaultInjector:
    """A stop-event loop that applies the timeline; skips what the demo has not got."""

    def __init__(
        self,
        targets: FaultTargets,
        timeline: Sequence[Injection] = DEFAULT_TIMELINE,
        *,
        period_s: float = DEFAULT_PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 0.5,
    ) -> None:
        self._targets = targets
        self._timeline = sorted(timeline, key=lambda i: i.at_s)
        self._period_s = max(period_s, max((i.at_s + i.duration_s for i in timeline), default=1))
        self._clock = clock
        self._tick_s = tick_s
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self.history: list[InjectionRecord] = []
        self._pending_clears: list[tuple[float, Injection, str]] = []

    def start(self) -> None:
        self.stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="demo-faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and mend what is still broken, so the next start is clean."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        for _due, injection, _name in self._pending_clears:
            if injection.kind == "camera":
                self._apply(partial(self._clear_camera, injection), injection)
        self._pending_clears.clear()

    def _run(self) -> None:
        started = self._clock()
        cycle = 0
        upcoming = list(self._timeline)
        while not self.stop_event.wait(self._tick_s):
            now = self._clock() - started
            while upcoming and now >= cycle * self._period_s + upcoming[0].at_s:
                injection = upcoming.pop(0)
                self._apply(partial(self._inject, injection), injection)
            for entry in [e for e in self._pending_clears if e[0] <= self._clock()]:
                self._pending_clears.remove(entry)
                self._apply(partial(self._clear_camera, entry[1]), entry[1])
            if not upcoming:
                cycle += 1
                upcoming = list(self._timeline)

    def _apply(self, action: Callable[[], None], injection: Injection) -> None:
        try:
            action()
        except Exception:  # a missing camera or a stopped fleet must not end the timeline
            log.exception("fault injection failed: %s", injection)

    def _inject(self, injection: Injection) -> None:
        if injection.kind == "camera":
            if injection.target > self._targets.camera_count():
                return
            name = self._targets.set_camera_fault(injection.target, injection.fault)
            due = self._clock() + injection.duration_s
            self._pending_clears.append((due, injection, name))
        elif injection.kind == "uplink":
            if injection.target > self._targets.box_count():
                return
            name = self._targets.drop_uplink(injection.target, injection.duration_s)
        else:
            log.error("unknown injection kind %r", injection.kind)
            return
        self._note("injected", injection, name)
        log.warning(
            "fault injected: %s %s %s for %.0f s (%s)",
            injection.kind,
            name,
            injection.fault,
            injection.duration_s,
            injection.why,
        )

    def _clear_camera(self, injection: Injection) -> None:
        name = self._targets.set_camera_fault(injection.target, "none")
        self._note("cleared", injection, name)
        log.warning("fault cleared: camera %s %s", name, injection.fault)

    def _note(self, action: str, injection: Injection, name: str) -> None:
        self.history.append(
            InjectionRecord(time.time(), action, injection.kind, name, injection.fault)
        )
