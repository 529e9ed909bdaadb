"""A camera pipeline running on simulated cameras, with what it emitted and what it logged.

The RTSP test modules each start one pipeline per module and read it from their tests; this
is the handle they share, and the log keeper for those that read the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from agent.camera import CameraWorker
from agent.pipeline import CameraPipeline
from protocol import CameraState
from simulator.cameras import CameraSimulator
from tests.agent.helpers import RecordingSink

__all__ = ["KeptLogs", "RunningPipeline", "kept_logs"]


class KeptLogs(logging.Handler):
    """Every record of a run, from every logger and at every level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int, text: str) -> list[str]:
        """The messages logged at exactly `level` that contain `text`."""
        found = (r.getMessage() for r in self.records if r.levelno == level)
        return [line for line in found if text in line]

    def everything(self) -> list[str]:
        """Each record as a log line would show it (traceback included), plus its raw
        arguments: a secret must not hide in either."""
        return [f"{self.format(r)} {r.args}" for r in self.records]


@contextmanager
def kept_logs() -> Iterator[KeptLogs]:
    """Keep every record logged while the block runs; the root logger is restored after."""
    logs = KeptLogs()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(logs)
    root.setLevel(logging.DEBUG)
    try:
        yield logs
    finally:
        root.removeHandler(logs)
        root.setLevel(previous_level)


@dataclass
class RunningPipeline:
    """A started pipeline, the sink it reports to, its cameras and (if kept) its logs."""

    pipeline: CameraPipeline
    sink: RecordingSink
    cameras: CameraSimulator
    logs: KeptLogs | None = None

    @property
    def kept(self) -> KeptLogs:
        assert self.logs is not None, "this module's pipeline keeps no logs"
        return self.logs

    def state(self, slot: int) -> CameraState:
        return next(v.state for v in self.pipeline.cameras() if v.slot == slot)

    def worker(self, slot: int) -> CameraWorker:
        return self.pipeline._worker(slot)

    def quality_faults(self, slot: int) -> list[tuple[str, str]]:
        return [(str(e.fault), e.state) for e in self.sink.of("quality_fault", slot=slot)]
