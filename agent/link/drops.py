"""Logs outbox drops once per burst, not once per message.

Why: when the outbox is full every new event drops one (the oldest or itself), so a box cut
off for a day would write a warning per event and bury everything else in its log. A burst
starts with the first drop (logged at once, so the loss is seen), is summarised at most every
`summary_interval_s` while it lasts, and ends with a line giving its total when a message is
stored again without a drop. The exact count is kept by the outbox and reported in telemetry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.link.clock import Clock

__all__ = ["SUMMARY_INTERVAL_S", "DropLog"]

log = logging.getLogger("agent.link.outbox")

SUMMARY_INTERVAL_S = 60.0


@dataclass
class _Burst:
    started: float
    dropped: int
    last_logged: float
    since_logged: int = 0


class DropLog:
    """Turns a stream of drops into one line per burst plus periodic summaries."""

    def __init__(
        self, policy: str, clock: Clock, summary_interval_s: float = SUMMARY_INTERVAL_S
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.summary_interval_s = summary_interval_s
        self._burst: _Burst | None = None
        self.bursts = 0

    @property
    def in_burst(self) -> bool:
        return self._burst is not None

    def dropped(self, n: int, total: int, reason: str) -> None:
        """`n` messages were just dropped for `reason`; `total` is the count ever."""
        now = self.clock.monotonic()
        burst = self._burst
        if burst is None:
            self._burst = _Burst(started=now, dropped=n, last_logged=now)
            self.bursts += 1
            log.warning(
                "%s: %d message(s) dropped (policy %s, %d dropped ever); further drops "
                "are counted and summarised until it has room again",
                reason,
                n,
                self.policy,
                total,
            )
            return
        burst.dropped += n
        burst.since_logged += n
        if now - burst.last_logged >= self.summary_interval_s:
            log.warning(
                "outbox still full: %d more message(s) dropped in the last %.0f s "
                "(%d in this burst, policy %s, %d dropped ever)",
                burst.since_logged,
                now - burst.last_logged,
                burst.dropped,
                self.policy,
                total,
            )
            burst.last_logged = now
            burst.since_logged = 0

    def relieved(self, total: int) -> None:
        """A message was stored without a drop: the burst, if any, is over."""
        burst, self._burst = self._burst, None
        if burst is None:
            return
        log.warning(
            "outbox has room again: %d message(s) dropped in a burst of %.0f s "
            "(policy %s, %d dropped ever)",
            burst.dropped,
            self.clock.monotonic() - burst.started,
            self.policy,
            total,
        )
