"""Feed messages through the real ingest path (dispatcher + batch writer), minus the broker."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from controller.core.settings import Settings
from controller.ingest.dispatcher import Dispatcher
from controller.ingest.handlers import register_fleet_handlers
from controller.ingest.writer import BatchWriter
from protocol import Envelope, encode, topic_for

__all__ = ["ingest_messages"]


def ingest_messages(engine: Engine, settings: Settings, messages: Iterable[Envelope]) -> None:
    """Decode each as if it came off the wire, then write them in one batch."""
    pending: list[Envelope] = []
    dispatcher = Dispatcher(pending.append)
    register_fleet_handlers(dispatcher, settings, None)
    writer = BatchWriter(engine, dispatcher.batch_handler)
    for message in messages:
        dispatcher.handle(topic_for(message), encode(message))
    writer.write(pending)  # type: ignore[arg-type]
