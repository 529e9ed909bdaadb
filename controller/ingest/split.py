"""The receiving side of split ingest: hands raw messages to a writer process over a pipe.

paho's receive loop costs tens of microseconds a message and decode plus the database write
as much again; in one process they share one interpreter lock and ingest tops out well below
what the broker delivers. Here the network thread only appends (topic, payload) to a buffer;
a link thread ships the buffer in batches to `worker.run_writer` in its own process. Kinds with
a direct handler (command replies, which an API request waits for) are decoded and handled
here at once instead. Batches stay in memory until the writer acknowledges them: if the writer
process dies they are sent again to a fresh one (the dedupe set and the events table's unique
key absorb the repeats), so nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from controller.core.metrics import INGEST_MESSAGES, INGEST_REJECTS
from controller.core.settings import Settings
from controller.ingest.worker import Ack, RawBatch, run_writer
from protocol import Kind
from protocol.topics import box_filter

__all__ = ["WriterLink"]

log = logging.getLogger(__name__)

RESTART_LIMIT = 5
"""Writer restarts within `RESTART_WINDOW_S` before ingest gives up loudly."""
RESTART_WINDOW_S = 60.0


class WriterLink:
    """Buffers raw messages from the network thread and feeds a writer process."""

    def __init__(
        self,
        settings: Settings,
        local: Callable[[str, bytes], None],
        local_kinds: Callable[[], list[Kind]],
        *,
        index: int = 0,
        failed: threading.Event | None = None,
    ) -> None:
        self._settings = settings
        self._local = local
        self._local_kinds = local_kinds
        self._local_tails: tuple[str, ...] = ()
        self._index = index
        self._batch_size = settings.ingest_batch_size
        self._interval_s = settings.ingest_batch_interval_s
        self._queue_max = settings.ingest_queue_max
        self._pending: RawBatch = []
        self._unacked: deque[RawBatch] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: BaseProcess | None = None
        self._batches: Connection | None = None
        self._acks: Connection | None = None
        self._restarts: deque[float] = deque()
        self.written = 0
        self.failed = failed or threading.Event()
        """Set when the writer keeps dying; the receiving process should then exit non-zero."""

    def put(self, topic_name: str, payload: bytes) -> None:
        """From the network thread; blocks (back-pressure on the broker) when the buffer is full."""
        if topic_name.endswith(self._local_tails):
            self._local(topic_name, payload)
            return
        with self._cond:
            while len(self._pending) >= self._queue_max and not self._stop.is_set():
                self._cond.wait(0.5)
            self._pending.append((topic_name, payload))
            if len(self._pending) == self._batch_size:
                self._cond.notify_all()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        """Start the writer process; kinds handled here are fixed from now on."""
        self._local_tails = tuple(
            "/" + box_filter(k).split("/+/", 1)[1] for k in self._local_kinds()
        )
        self._stop.clear()
        self._spawn()
        self._thread = threading.Thread(target=self._run, name="ingest-link", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ship what is buffered, let the writer finish it, then end the writer process."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._end_process(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """True once everything handed over so far is written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle():
                return True
            time.sleep(0.01)
        return self._idle()

    def kill_writer(self) -> None:
        """End the writer process abruptly (what a crash looks like; for tests and drills)."""
        if self._process is not None:
            self._process.kill()

    def _idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._unacked

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        batches_reader, batches_writer = context.Pipe(duplex=False)
        acks_reader, acks_writer = context.Pipe(duplex=False)
        process = context.Process(
            target=run_writer,
            args=(self._settings, self._index, batches_reader, acks_writer),
            name=f"ingest-writer-{self._index}",
            daemon=True,
        )
        process.start()
        batches_reader.close()
        acks_writer.close()
        self._process, self._batches, self._acks = process, batches_writer, acks_reader
        log.info("ingest writer process started", extra={"pid": process.pid})

    def _end_process(self, timeout: float) -> None:
        if self._batches is not None:
            with contextlib.suppress(OSError):
                self._batches.send(None)
        if self._process is not None:
            deadline = time.monotonic() + timeout
            while self._process.is_alive() and time.monotonic() < deadline:
                self._drain_acks(0.05)
            self._drain_acks(0)
            if self._process.is_alive():
                log.error("ingest writer did not stop; killing it", extra={"unacked": self._lag()})
                self._process.kill()
            self._process.join(1)
        for conn in (self._batches, self._acks):
            if conn is not None:
                conn.close()
        self._process = self._batches = self._acks = None

    def _lag(self) -> int:
        return sum(len(b) for b in self._unacked)

    def _take(self) -> RawBatch:
        with self._cond:
            if len(self._pending) < self._batch_size and not self._stop.is_set():
                self._cond.wait(self._interval_s)
            batch, self._pending = (
                self._pending[: self._batch_size],
                self._pending[self._batch_size :],
            )
            self._cond.notify_all()
        return batch

    def _run(self) -> None:
        while True:
            try:
                if not self.alive:
                    self._recover()
                    if self.failed.is_set():
                        return
                batch = self._take()
                if batch:
                    with self._cond:
                        self._unacked.append(batch)
                    assert self._batches is not None
                    self._batches.send(batch)
                self._drain_acks(0)
                if self._stop.is_set() and not self._pending:
                    return
            except (OSError, EOFError):
                log.warning("ingest writer link broken", extra={"unacked": self._lag()})
                time.sleep(0.1)  # the process check above restarts it
            except Exception:  # the loop must go on whatever happens
                log.exception("ingest link cycle failed")

    def _drain_acks(self, wait_s: float) -> None:
        acks = self._acks
        if acks is None:
            return
        try:
            while acks.poll(wait_s):
                ack: Ack = acks.recv()
                wait_s = 0
                with self._cond:  # count before the batch leaves `_unacked`: idle means counted
                    self.written += ack.written
                    for _ in range(min(ack.batches, len(self._unacked))):
                        self._unacked.popleft()
                for kind, count in ack.kinds.items():
                    INGEST_MESSAGES.labels(kind=kind).inc(count)
                for reason, count in ack.rejects.items():
                    INGEST_REJECTS.labels(reason=reason).inc(count)
        except (OSError, EOFError):
            return

    def _recover(self) -> None:
        """Restart a dead writer and resend what it had not acknowledged; give up if it flaps."""
        code = self._process.exitcode if self._process is not None else None
        self._drain_acks(0)
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > RESTART_WINDOW_S:
            self._restarts.popleft()
        if len(self._restarts) > RESTART_LIMIT:
            log.critical(
                "ingest writer keeps dying; ingest stopped",
                extra={"exitcode": code, "unacked": self._lag()},
            )
            self.failed.set()
            return
        log.error(
            "ingest writer process died; restarting and resending",
            extra={"exitcode": code, "unacked": self._lag()},
        )
        for conn in (self._batches, self._acks):
            if conn is not None:
                conn.close()
        self._spawn()
        with self._cond:
            resend = list(self._unacked)
        assert self._batches is not None
        for batch in resend:
            self._batches.send(batch)
