"""Today's recording completeness of a simulated camera, as a real box would report it.

A box computes it from its segment index: recorded seconds over the scheduled seconds of the
current UTC day so far. A simulated camera records whenever it is online (the schedule is the
whole day), so the figure is the day so far minus its outages. The time before the simulator
started is taken as recorded at a share drawn per camera (a broken camera recorded nothing).
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["RecordingDay"]


class RecordingDay:
    """Counts a camera's unrecorded seconds today; `share(now)` is the completeness."""

    def __init__(self, started: datetime, share_before: float, down: bool) -> None:
        self._day = _midnight(started)
        self._started = started
        self._share_before = share_before
        self._lost_s = 0.0
        self._down_since: datetime | None = started if down else None

    def went_down(self, at: datetime) -> None:
        if self._down_since is None:
            self._roll(at)
            self._down_since = at

    def came_up(self, at: datetime) -> None:
        if self._down_since is not None:
            self._roll(at)
            assert self._down_since is not None
            self._lost_s += max((at - self._down_since).total_seconds(), 0.0)
            self._down_since = None

    def share(self, now: datetime) -> float:
        """Recorded share of today (UTC) so far, 0..1."""
        self._roll(now)
        so_far = (now - self._day).total_seconds()
        if so_far <= 0:
            return 1.0 if self._down_since is None else 0.0
        before = max((self._started - self._day).total_seconds(), 0.0)
        lost = self._lost_s + before * (1.0 - self._share_before)
        if self._down_since is not None:
            lost += max((now - self._down_since).total_seconds(), 0.0)
        return round(min(max(1.0 - lost / so_far, 0.0), 1.0), 4)

    def _roll(self, now: datetime) -> None:
        """A new UTC day starts from nothing lost (an outage in progress counts from 00:00)."""
        day = _midnight(now)
        if day > self._day:
            self._day = day
            self._started = day
            self._share_before = 1.0
            self._lost_s = 0.0
            if self._down_since is not None:
                self._down_since = day


def _midnight(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)
