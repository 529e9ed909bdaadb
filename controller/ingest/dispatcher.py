"""Decode and route: `kind -> handler`, a registry other domains add their kinds to.

Runs on paho's network thread, so it only decodes, deduplicates and hands over: batched
handlers get the message through the batch writer, direct handlers (command replies, which
someone is waiting for) are called at once and must be quick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from controller.core.metrics import INGEST_MESSAGES, record_reject
from controller.ingest.dedupe import SeenSet
from protocol import AgentEnvelope, Kind, Message, ProtocolError, decode

__all__ = ["BatchHandler", "DirectHandler", "Dispatcher"]

log = logging.getLogger(__name__)

BatchHandler = Callable[[Session, Sequence[Any]], None]
"""Writes a run of messages of one kind inside the writer's transaction."""

DirectHandler = Callable[[Message], None]
"""Handles one message at once on the network thread."""


@dataclass(frozen=True)
class _Route:
    batch: BatchHandler | None = None
    direct: DirectHandler | None = None


class Dispatcher:
    """Turns (topic, payload) into a validated message and routes it by kind."""

    def __init__(self, enqueue: Callable[[Message], None], seen: SeenSet | None = None) -> None:
        self._enqueue = enqueue
        self._routes: dict[Kind, _Route] = {}
        self._seen = seen or SeenSet()
        self._counters: dict[str, Any] = {}

    def register_batch(self, kind: Kind, handler: BatchHandler) -> None:
        """Route `kind` to `handler`, called with runs of messages in the writer thread."""
        self._routes[Kind(kind)] = _Route(batch=handler)

    def register_direct(self, kind: Kind, handler: DirectHandler) -> None:
        """Route `kind` to `handler`, called at once for each message."""
        self._routes[Kind(kind)] = _Route(direct=handler)

    def batch_handler(self, kind: Kind) -> BatchHandler | None:
        route = self._routes.get(Kind(kind))
        return route.batch if route else None

    @property
    def kinds(self) -> list[Kind]:
        return sorted(self._routes)

    @property
    def direct_kinds(self) -> list[Kind]:
        """Kinds handled at once rather than batched (a split ingest keeps them local)."""
        return sorted(k for k, r in self._routes.items() if r.direct is not None)

    def handle(self, topic: str, payload: bytes) -> None:
        """Entry point from MQTT; never raises."""
        try:
            message = decode(topic, payload)
        except ProtocolError as exc:
            record_reject(
                exc.reason, box_id=exc.hint.get("box_id"), detail=f"{topic}: {exc.detail}"
            )
            return
        if isinstance(message, AgentEnvelope) and not self._seen.first_time(
            message.box_id, message.boot_id, message.seq
        ):
            record_reject("duplicate", box_id=message.box_id, detail=f"seq {message.seq}")
            return
        route = self._routes.get(Kind(message.kind))
        if route is None:
            record_reject("no_handler", box_id=message.box_id, detail=f"kind {message.kind}")
            return
        counter = self._counters.get(message.kind)
        if counter is None:  # labels() costs as much as the rest of the routing
            counter = self._counters[message.kind] = INGEST_MESSAGES.labels(kind=message.kind)
        counter.inc()
        if route.direct is not None:
            try:
                route.direct(message)
            except Exception:
                log.exception(
                    "handler failed", extra={"kind": message.kind, "box_id": message.box_id}
                )
                record_reject("handler_error", box_id=message.box_id, detail=message.kind)
            return
        self._enqueue(message)
