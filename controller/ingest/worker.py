"""The ingest writer process: decodes, deduplicates and writes what the receiver hands over.

Runs in its own process so that decoding and database writes do not share one interpreter
lock with paho's receive loop. It reads batches of raw (topic, payload) over a pipe, runs them
through the same dispatcher and batch writer as in-process ingest, and answers each cycle with
an acknowledgement: how many batches are durable and what it counted (messages by kind,
rejects by reason), so the receiving process keeps the metrics and knows what to resend if
this process dies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from controller.core.checkpoint import WalCheckpointer
from controller.core.db import make_engine
from controller.core.metrics import INGEST_MESSAGES, INGEST_REJECTS
from controller.core.settings import Settings
from controller.ingest.dispatcher import Dispatcher
from controller.ingest.handlers import register_fleet_handlers
from controller.ingest.writelock import WriterLock
from controller.ingest.writer import BatchWriter
from controller.mqtt import ControllerMqtt
from protocol import Message

__all__ = ["Ack", "RawBatch", "register_batch_kinds", "run_writer"]

log = logging.getLogger(__name__)

RawBatch = list[tuple[str, bytes]]
"""What the receiver sends: (topic, payload) as they came off the broker."""


@dataclass
class Ack:
    """One write cycle's outcome, sent back to the receiving process."""

    batches: int
    written: int
    kinds: dict[str, float] = field(default_factory=dict)
    rejects: dict[str, float] = field(default_factory=dict)


def register_batch_kinds(dispatcher: Dispatcher, settings: Settings, mqtt: ControllerMqtt) -> None:
    """Every batched kind the controller writes (fleet and jobs)."""
    from controller.jobs.progress import register_job_handlers

    register_fleet_handlers(dispatcher, settings, mqtt)
    register_job_handlers(dispatcher)


def _counts(metric: object) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in metric.collect():  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.name.endswith("_total"):
                values[next(iter(sample.labels.values()))] = float(sample.value)
    return values


def _delta(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in now.items() if v != before.get(k, 0.0)}


def run_writer(settings: Settings, index: int, batches: Connection, acks: Connection) -> None:
    """The writer process's main loop; returns when the receiver sends None or goes away."""
    from controller.core.logging import setup_logging

    setup_logging()
    engine = make_engine(settings.database_url, checkpoint_in_background=True)
    lock = WriterLock.for_engine(engine)
    checkpointer = WalCheckpointer(engine) if WalCheckpointer.wanted(engine) else None
    if checkpointer is not None:
        checkpointer.start()
    client_id = f"{settings.broker_client_id}-writer{index}" if settings.broker_client_id else ""
    publisher = ControllerMqtt(
        settings.broker_url,
        client_id=client_id,
        username=settings.broker_username,
        password=settings.broker_password,
        ca_file=str(settings.broker_ca_file) if settings.broker_ca_file else None,
        protocol_version=settings.broker_protocol,
    )
    publisher.start(wait_s=0)  # births may republish config; connects in the background
    pending: list[Message] = []
    dispatcher = Dispatcher(pending.append)
    register_batch_kinds(dispatcher, settings, publisher)
    writer = BatchWriter(engine, dispatcher.batch_handler, batch_size=settings.ingest_batch_size)
    kinds, rejects = _counts(INGEST_MESSAGES), _counts(INGEST_REJECTS)
    log.info("ingest writer started", extra={"writer": index})
    running = True
    try:
        while running:
            if not batches.poll(settings.ingest_batch_interval_s):
                continue
            taken = 0
            while taken == 0 or (batches.poll(0) and len(pending) < settings.ingest_batch_size):
                try:
                    raw: RawBatch | None = batches.recv()
                except EOFError:
                    raw = None
                if raw is None:
                    running = False
                    break
                taken += 1
                for topic_name, payload in raw:
                    dispatcher.handle(topic_name, payload)
            written = len(pending)
            if pending:
                try:
                    with lock:
                        writer.write(pending)
                except Exception:  # write() already falls back message by message
                    log.exception("ingest writer cycle failed", extra={"messages": written})
                pending.clear()
            now_kinds, now_rejects = _counts(INGEST_MESSAGES), _counts(INGEST_REJECTS)
            acks.send(Ack(taken, written, _delta(now_kinds, kinds), _delta(now_rejects, rejects)))
            kinds, rejects = now_kinds, now_rejects
    finally:
        publisher.stop()
        if checkpointer is not None:
            checkpointer.stop()
        engine.dispose()
        log.info("ingest writer stopped", extra={"writer": index, "written": writer.written})
