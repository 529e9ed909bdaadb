"""The batch writer: one thread that writes many messages per transaction.

A batch is split by kind and each kind's messages go to its handler at once, in a fixed order
(births, then box states, camera statuses, telemetry, events, config reports, then any other
kind): a handful of statements per batch instead of a few per run of one kind, which is what
lets one writer keep up with 10,000 messages a second. Handlers keep the order within their
kind; across kinds the order is chosen so that no outcome depends on arrival order (a birth
before the stale will it beats, a live status before the events it confirms; see
`fleet/events.py`). A failing batch is retried message by message, so one poisoned message is
counted and logged while the rest of the batch still lands.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from controller.core.metrics import BATCH_LATENCY, record_reject
from controller.ingest.dispatcher import BatchHandler
from protocol import Kind, Message

__all__ = ["BatchWriter"]

log = logging.getLogger(__name__)

KIND_ORDER: tuple[Kind, ...] = (
    Kind.BIRTH,
    Kind.STATE,
    Kind.CAMERA_STATUS,
    Kind.TELEMETRY,
    Kind.EVENT,
    Kind.CONFIG_REPORTED,
)
"""The order kinds are written in within one batch; other kinds follow in arrival order."""


class BatchWriter:
    """Drains a queue into the database every `interval_s` or every `batch_size` messages."""

    def __init__(
        self,
        engine: Engine,
        handler_for: Callable[[Kind], BatchHandler | None],
        *,
        batch_size: int = 500,
        interval_s: float = 0.2,
        queue_max: int = 200_000,
    ) -> None:
        self._engine = engine
        self._handler_for = handler_for
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=queue_max)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self._idle = threading.Event()

    def put(self, message: Message) -> None:
        """Hand a message over; blocks (back-pressure on the broker) when the queue is full."""
        self._idle.clear()
        self._queue.put(message)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after writing what is queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float) -> bool:
        """True once everything handed over so far is written (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return self._queue.unfinished_tasks == 0

    def _take(self) -> list[Message]:
        batch: list[Message] = []
        try:
            batch.append(self._queue.get(timeout=self._interval_s))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self._interval_s
        while len(batch) < self._batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=max(remaining, 0))
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            batch = self._take()
            if not batch:
                continue
            try:
                self.write(batch)
            except Exception:  # the loop must go on whatever happens
                log.exception("ingest batch failed", extra={"messages": len(batch)})
            finally:
                for _ in batch:
                    self._queue.task_done()

    def write(self, batch: list[Message]) -> None:
        """Write one batch in one transaction; fall back to one message at a time."""
        started = time.perf_counter()
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                self._apply(session, batch)
                session.commit()
        except Exception:
            log.exception("batch write failed; retrying one by one", extra={"messages": len(batch)})
            for message in batch:
                self._write_one(message)
        BATCH_LATENCY.observe(time.perf_counter() - started)
        self.written += len(batch)

    def _write_one(self, message: Message) -> None:
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                self._apply(session, [message])
                session.commit()
        except Exception as exc:
            log.exception(
                "message write failed", extra={"kind": message.kind, "box_id": message.box_id}
            )
            record_reject("write_failed", box_id=message.box_id, detail=f"{message.kind}: {exc}")

    def _apply(self, session: Session, batch: list[Message]) -> None:
        by_kind: dict[Kind, list[Message]] = {}
        for message in batch:
            by_kind.setdefault(Kind(message.kind), []).append(message)
        order = [k for k in KIND_ORDER if k in by_kind]
        order += [k for k in by_kind if k not in KIND_ORDER]
        for kind in order:
            handler = self._handler_for(kind)
            if handler is not None:
                handler(session, by_kind[kind])
