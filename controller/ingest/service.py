"""The ingest role: MQTT client + dispatcher + batch writer, started and stopped together.

By default everything runs in this process. With `ingest_writer_process` the MQTT receiver
only receives and `ingest_writers` writer processes decode, deduplicate and write, each for
its share of the boxes (see `pool.py` and `split.py`); direct kinds such as command replies
are still handled here.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from controller.core.settings import Settings
from controller.ingest.dispatcher import Dispatcher
from controller.ingest.handlers import register_fleet_handlers
from controller.ingest.pool import WriterPool
from controller.ingest.writer import BatchWriter
from controller.mqtt import ControllerMqtt

__all__ = ["Ingest"]

log = logging.getLogger(__name__)


class Ingest:
    """Subscribes to every box's messages and writes them; other domains may register kinds
    on `dispatcher` before `start()` (batched kinds of a writer process are registered by
    `worker.register_batch_kinds`)."""

    def __init__(self, settings: Settings, engine: Engine, mqtt: ControllerMqtt) -> None:
        self.mqtt = mqtt
        self.writer = BatchWriter(
            engine,
            lambda kind: self.dispatcher.batch_handler(kind),
            batch_size=settings.ingest_batch_size,
            interval_s=settings.ingest_batch_interval_s,
            queue_max=settings.ingest_queue_max,
        )
        self.dispatcher = Dispatcher(self.writer.put)
        register_fleet_handlers(self.dispatcher, settings, mqtt)
        self.link = (
            WriterPool(settings, self.dispatcher.handle, lambda: self.dispatcher.direct_kinds)
            if settings.ingest_writer_process
            else None
        )

    @property
    def written(self) -> int:
        """Messages written so far, wherever the writing happens."""
        return self.writer.written + (self.link.written if self.link is not None else 0)

    def wait_idle(self, timeout: float) -> bool:
        """True once everything received so far is written."""
        if self.link is not None and not self.link.wait_idle(timeout):
            return False
        return self.writer.wait_idle(timeout)

    def start(self) -> None:
        self.writer.start()
        if self.link is not None:
            self.link.start()
            self.mqtt.subscribe_ingest(self.link.put)
        else:
            self.mqtt.subscribe_ingest(self.dispatcher.handle)
        log.info(
            "ingest started",
            extra={
                "kinds": [k.value for k in self.dispatcher.kinds],
                "writer_process": self.link is not None,
            },
        )

    def stop(self) -> None:
        self.mqtt.detach_ingest()
        if self.link is not None:
            self.link.stop()
        self.writer.stop()
        log.info("ingest stopped", extra={"written": self.written})
