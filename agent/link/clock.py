"""The link's clock: one object for wall time (timestamps) and monotonic time (intervals).

Intervals, deadlines and backoff read the clock through this seam so tests can drive time
instead of sleeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock:
    """Wall time in UTC and a monotonic second counter."""

    def now(self) -> datetime:
        """The current UTC time (timestamps in messages)."""
        raise NotImplementedError

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals)."""
        raise NotImplementedError


class SystemClock(Clock):
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class ManualClock(Clock):
    """A clock that only moves when told to; for tests of interval and deadline logic."""

    wall: datetime = field(default_factory=lambda: datetime(2026, 9, 1, 7, 30, tzinfo=UTC))
    mono: float = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        from datetime import timedelta

        self.wall += timedelta(seconds=seconds)
        self.mono += seconds
