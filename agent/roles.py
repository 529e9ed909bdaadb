"""One home for the thread lifecycle of the agent's periodic roles.

A periodic role wakes every `interval_s`, does one `tick()`, and goes back to sleep until the
next one or until it is stopped. Each role used to carry its own copy of that loop; here it is
written once so that every role stops the same way (promptly, joined with a timeout) and a
failing tick is logged with the role's name instead of killing the thread.

A role runs on one thread at a time: `start()` on a running role raises `RuntimeError` (two
threads ticking one role would race on its state, and a second start is a wiring bug worth
seeing). A stopped role may be started again; it gets a fresh thread.

`wake()` cuts the current wait short, for roles that have news between ticks (new rows to
send, a changed camera). Roles driven by a queue or a condition of their own do not belong
here.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

__all__ = ["PeriodicRole"]

log = logging.getLogger(__name__)


class PeriodicRole(ABC):
    """A long-running role: `tick()` every `interval_s` on its own named thread until stopped."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        *,
        join_timeout_s: float = 5.0,
        daemon: bool = False,
        tick_at_start: bool = False,
    ) -> None:
        """`tick_at_start` ticks once as soon as the thread runs, before the first wait."""
        self.name = name
        self.interval_s = interval_s
        self.join_timeout_s = join_timeout_s
        self._daemon = daemon
        self._tick_at_start = tick_at_start
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the role's thread is alive (including a last tick finishing after stop)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def stopping(self) -> bool:
        """True once `stop()` was asked; a long tick can check it and return early."""
        return self._stop_event.is_set()

    def start(self) -> None:
        """Start the role's thread; refused while it is already running."""
        with self._lifecycle:
            if self.running:
                raise RuntimeError(f"role {self.name} is already running")
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=self._daemon)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to end and wait up to `timeout` (default `join_timeout_s`) for it."""
        self.signal_stop()
        self.join(timeout)

    def signal_stop(self) -> None:
        """Ask the loop to end without waiting: an owner of several roles asks them all first,
        then joins each, so their last ticks finish side by side."""
        self._stop_event.set()
        self._wake_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` (default `join_timeout_s`) for the thread to end."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(self.join_timeout_s if timeout is None else timeout)
        if thread.is_alive():
            log.warning(
                "role %s did not stop within the timeout; its tick is still running", self.name
            )

    def wake(self) -> None:
        """Tick now rather than at the end of the current wait."""
        self._wake_event.set()

    # -- the loop ----------------------------------------------------------------------------

    @abstractmethod
    def tick(self) -> None:
        """One round of the role's work; an exception is logged and the next round still comes."""

    def next_wait_s(self) -> float:
        """How long to sleep before the next tick; the fixed interval unless a role knows better."""
        return self.interval_s

    def _run(self) -> None:
        if self._tick_at_start and not self._stop_event.is_set():
            self._tick_safely()
        while True:
            self._wake_event.wait(self._wait_s())
            self._wake_event.clear()
            if self._stop_event.is_set():
                return
            self._tick_safely()

    def _wait_s(self) -> float:
        try:
            return self.next_wait_s()
        except Exception:
            log.exception("role %s: next wait unknown; waiting %.1f s", self.name, self.interval_s)
            return self.interval_s

    def _tick_safely(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception(
                "role %s: tick failed; trying again in %.1f s", self.name, self.interval_s
            )
