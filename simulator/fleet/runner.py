"""Run a fleet in the foreground: a one-line summary every few seconds, clean exit on Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from simulator.fleet.fleet import FleetSimulator
from simulator.fleet.settings import FleetSettings, FleetStats

__all__ = ["run_fleet", "summary_line"]

log = logging.getLogger(__name__)


def summary_line(stats: FleetStats, boxes: int, msgs_per_s: float) -> str:
    """`connected 480/500  msgs/s 812  events 37 (...)  uplink losses 3  errors 0`."""
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_event.items()))
    return (
        f"connected {stats.connected}/{boxes}  msgs/s {msgs_per_s:.0f}  "
        f"events {stats.events}{f' ({kinds})' if kinds else ''}  "
        f"uplink losses {stats.uplink_losses}  replies {stats.replies}  jobs {stats.jobs}  "
        f"dropped {stats.dropped}  errors {stats.errors}"
    )


def run_fleet(
    settings: FleetSettings,
    *,
    duration_s: float | None,
    every_s: float = 10.0,
    echo: Callable[[str], None],
) -> FleetStats:
    """Run until `duration_s` passes or SIGINT/SIGTERM; echo a summary every `every_s`."""
    fleet = FleetSimulator(settings)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    fleet.start()
    started = last_at = time.monotonic()
    last_published = 0
    try:
        while not stop.wait(every_s if duration_s is None else min(every_s, duration_s)):
            now = time.monotonic()
            published = fleet.stats.published
            rate = (published - last_published) / max(now - last_at, 1e-6)
            last_published, last_at = published, now
            echo(summary_line(fleet.stats, settings.schools, rate))
            if fleet.error is not None:
                break
            if duration_s is not None and now - started >= duration_s:
                break
    finally:
        fleet.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return fleet.stats
