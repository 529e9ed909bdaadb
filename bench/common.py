"""Shared benchmark helpers: CPU seconds and peak RSS of processes, measured from outside."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

import psutil

__all__ = ["ProcessSampler", "Usage", "context_switches"]


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of a process (0 if gone).

    Many switches per second in a threaded Python process point at GIL hand-overs.
    """
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/status") as status:
            for line in status:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system) used in the window, and the peak resident set in MB."""

    cpu_s: float
    peak_rss_mb: float


class ProcessSampler:
    """Samples a group of processes every `interval_s`: CPU used since `mark()`, peak RSS.

    Peak RSS is the largest sum over the group at one sampling instant.
    """

    def __init__(self, pids: list[int], interval_s: float = 0.5) -> None:
        self._procs = [psutil.Process(pid) for pid in pids]
        self.interval_s = interval_s
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler")

    def _cpu(self, proc: psutil.Process) -> float | None:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            return None
        return float(times.user + times.system)

    def _sample(self) -> None:
        rss = 0
        for proc in self._procs:
            cpu = self._cpu(proc)
            if cpu is not None:
                self._last[proc.pid] = cpu
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        self._peak = max(self._peak, rss)

    def mark(self) -> None:
        """Start the measured window now (after warm-up)."""
        self._sample()
        self._base = dict(self._last)
        self._peak = 0
        if not self._thread.is_alive():
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def finish(self) -> Usage:
        """End the window (call while the processes still run)."""
        self._sample()
        self._stop.set()
        self._thread.join(5)
        cpu = sum(self._last.get(pid, 0.0) - base for pid, base in self._base.items())
        return Usage(round(cpu, 2), round(self._peak / 1024 / 1024, 1))
