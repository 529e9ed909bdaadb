"""A short-lived memory of fleet summaries, per caller scope and filter.

A wall of dashboards asking for the district's summary every few seconds would otherwise
count 160,000 cameras for each of them. A summary up to `ttl_s` old (default 2 s) is what a
dashboard shows anyway; `ttl_s=0` turns the memory off. One cache per app (per database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from controller.fleet.models import FleetSummary

__all__ = ["SummaryCache"]


class SummaryCache:
    """Remembers summaries by key for `ttl_s` seconds; thread-safe, bounded."""

    def __init__(
        self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 4096
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max_keys = max_keys
        self._held: dict[Hashable, tuple[float, FleetSummary]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], FleetSummary]) -> FleetSummary:
        """The remembered summary for `key`, or a fresh one from `compute`."""
        if self.ttl_s <= 0:
            return compute()
        now = self._clock()
        with self._lock:
            held = self._held.get(key)
        if held is not None and now - held[0] < self.ttl_s:
            return held[1]
        value = compute()
        with self._lock:
            if len(self._held) >= self._max_keys:
                self._held = {k: v for k, v in self._held.items() if now - v[0] < self.ttl_s}
                if len(self._held) >= self._max_keys:
                    self._held.clear()
            self._held[key] = (now, value)
        return value
