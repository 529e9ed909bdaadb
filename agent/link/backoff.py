"""How long the link waits before its next connection attempt.

Why a module of its own: the growth and the cap are a promise to operators (a box that lost
its broker comes back within `broker.reconnect_max_s` of the broker's return), so they are
computed in one pure place that tests check exactly, apart from the loop that sleeps.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["INITIAL_DELAY_S", "JITTER_LOW", "Backoff"]

INITIAL_DELAY_S = 0.5
JITTER_LOW = 0.8  # a delay is scaled by a factor in [JITTER_LOW, 1], so it never passes the cap


@dataclass
class Backoff:
    """Capped exponential backoff with jitter below the cap.

    The wait after a connection that got as far as a CONNACK is `initial_s`; each attempt that
    fails in a row doubles it, up to `cap_s`. Jitter only shortens a delay (boxes that lost the
    same broker do not come back in lockstep) and never lengthens it past the cap.
    """

    cap_s: float
    initial_s: float = INITIAL_DELAY_S
    jitter: Callable[[], float] = field(default_factory=lambda: _uniform_jitter(random.Random()))
    failures: int = 0

    def nominal(self, failures: int) -> float:
        """The delay before jitter after `failures` failed attempts in a row."""
        if self.initial_s >= self.cap_s:
            return self.cap_s
        # 2**failures overflows nothing here: stop doubling once the cap is reached.
        delay = self.initial_s
        for _ in range(failures):
            delay *= 2
            if delay >= self.cap_s:
                return self.cap_s
        return delay

    def next_delay(self, connected: bool) -> float:
        """Record how the last attempt ended and return the wait before the next one."""
        self.failures = 0 if connected else self.failures + 1
        factor = min(1.0, max(JITTER_LOW, self.jitter()))
        return self.nominal(self.failures) * factor


def _uniform_jitter(rng: random.Random) -> Callable[[], float]:
    return lambda: rng.uniform(JITTER_LOW, 1.0)
