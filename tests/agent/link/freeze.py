"""Freeze a real Mosquitto mid-test (SIGSTOP) and always thaw it (SIGCONT).

A frozen broker keeps its sockets open: the kernel still accepts bytes and connections, but
nothing is read, acknowledged or answered. That is how a hung broker or a dead uplink with a
live TCP path looks to a box, and it is what makes unacknowledged messages pile up.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from tests.harness.mosquitto import MosquittoBroker


def broker_pid(broker: MosquittoBroker) -> int:
    """The PID of the running broker child."""
    try:
        return broker.pid
    except RuntimeError as exc:
        raise AssertionError(str(exc)) from exc


@contextlib.contextmanager
def frozen(broker: MosquittoBroker) -> Iterator[None]:
    """Hold the broker stopped for the block; it is continued even if the block fails."""
    pid = broker_pid(broker)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
