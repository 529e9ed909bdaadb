"""The ingest role: MQTT client + dispatcher + batch writer, started and stopped together."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from controller.core.settings import Settings
from controller.ingest.dispatcher import Dispatcher
from controller.ingest.handlers import register_fleet_handlers
from controller.ingest.writer import BatchWriter
from controller.mqtt import ControllerMqtt

__all__ = ["Ingest"]

log = logging.getLogger(__name__)


class Ingest:
    """Subscribes to every box's messages and writes them; other domains may register kinds
    on `dispatcher` before `start()`."""

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

    def start(self) -> None:
        self.writer.start()
        self.mqtt.subscribe_ingest(self.dispatcher.handle)
        log.info("ingest started", extra={"kinds": [k.value for k in self.dispatcher.kinds]})

    def stop(self) -> None:
        self.mqtt.detach_ingest()
        self.writer.stop()
        log.info("ingest stopped", extra={"written": self.writer.written})
