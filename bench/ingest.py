"""The controller's sustained ingest (msgs/s, dedupe and DB writes included) against raw paho.

One throwaway Mosquitto serves the whole run. A lean publisher in its own process (the fleet
simulator's asyncio MQTT client, several connections, pre-encoded protocol-valid messages)
plays the fleet in two phases:

- first contact (reported, not the target): every box's birth, online state and one status per
  camera, i.e. nearly every message is a first sighting;
- steady (timed, the target): camera status heartbeats and changes, events and telemetry with
  distinct (boot_id, seq), plus 5 % exact re-sends to exercise dedupe.

The same phases go, in the same run, to a bare paho subscriber (MQTT 5, QoS 1, the
controller's filters) that only counts, then to the controller's ingest on SQLite and on a
throwaway PostgreSQL, timed from the first publish until every unique message is written.
`--mode split` (default) runs ingest with its writer process, `inline` the one-process ingest.

Prints one JSON line and records it in docs/performance.md. `--short` sends 20,000 steady
messages from 500 boxes; the full run 200,000 from 2,000. `--profile` also runs one writer
batch under cProfile and prints where the time goes (stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import multiprocessing
import pstats
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.messages import (
    measured_streams,
    random_event_body,
    status_template,
    telemetry_template,
)
from bench.report import emit, record
from controller.core.db import make_engine
from controller.core.settings import Settings
from controller.ingest.service import Ingest
from controller.migrations import upgrade
from controller.mqtt import ControllerMqtt
from protocol import (
    Birth,
    BoxState,
    CameraInventory,
    CameraStatus,
    Event,
    Telemetry,
    decode,
    delivery_for,
    encode,
    topic_for,
    utc_now,
)
from protocol.topics import controller_subscriptions
from simulator.fleet.mqtt import MqttConnection, connect
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.postgres import PostgresServer

log = logging.getLogger("bench.ingest")

TARGET_MSGS_PER_S = 10_000
TARGET_RATIO = 0.5
DUPLICATE_SHARE = 0.05
PUBLISHERS = 4
WINDOW = 500
SLOTS = 16

Wire = tuple[str, bytes, int, bool]


class IngestBroker(MosquittoBroker):
    """The harness's Mosquitto, queueing without limit so a slow subscriber loses nothing."""

    def _write_config(self) -> None:
        super()._write_config()
        with self.conf_file.open("a") as conf:
            conf.write("max_queued_messages 0\nmax_queued_bytes 0\nlog_type none\n")


@dataclass(frozen=True)
class Phase:
    """Pre-encoded messages: (topic, payload, qos, retain); `unique` excludes the re-sends."""

    name: str
    messages: list[Wire]
    unique: int


def _wire(message: Birth | BoxState | CameraStatus | Telemetry | Event) -> Wire:
    delivery = delivery_for(message)
    return (topic_for(message), encode(message), delivery.qos, delivery.retain)


def make_phases(total: int, boxes: int, seed: int = 7) -> tuple[Phase, Phase]:
    """First contact for every box, then `total` steady messages (80 % statuses, 10 % events,
    5 % telemetry, 5 % exact re-sends) continuing each box's (boot_id, seq). Statuses carry
    the fps and bitrate a camera measures, different in each, as real boxes send them."""
    rng = random.Random(seed)
    now = utc_now()
    boots = {f"bench-{n:05d}-a": (secrets.token_hex(5), [0]) for n in range(1, boxes + 1)}
    box_ids = list(boots)
    status = status_template(box_ids[0], now)
    cameras = [
        CameraInventory(slot=s, name=f"area {s}", profile="hikvision", vendor="Hikvision")
        for s in range(1, SLOTS + 1)
    ]

    def envelope(box_id: str) -> dict[str, Any]:
        boot_id, counter = boots[box_id]
        counter[0] += 1
        return {"box_id": box_id, "boot_id": boot_id, "seq": counter[0], "sent_at": utc_now()}

    first: list[Wire] = []
    for box_id in box_ids:
        first.append(
            _wire(
                Birth(
                    **envelope(box_id),
                    software_version="0.1.0",
                    session=1,
                    started_at=now,
                    config_version=0,
                    cameras=cameras,
                )
            )
        )
        first.append(
            _wire(BoxState(**envelope(box_id), state="online", session=1, reason="connected"))
        )
        for slot in range(1, SLOTS + 1):
            first.append(_wire(status.model_copy(update={**envelope(box_id), "slot": slot})))
    telemetry = telemetry_template(box_ids[0])
    streams = measured_streams(rng)
    steady: list[Wire] = []
    unique = 0
    for _ in range(total):
        roll = rng.random()
        if steady and roll < DUPLICATE_SHARE:
            steady.append(steady[rng.randrange(len(steady))])
            continue
        box_id = rng.choice(box_ids)
        message: CameraStatus | Telemetry | Event
        if roll < 0.85:
            changed = rng.random() < 0.1  # a tenth of statuses change the camera's state
            message = status.model_copy(
                update={
                    **envelope(box_id),
                    "slot": rng.randint(1, SLOTS),
                    "recording": not changed,
                    "stream": rng.choice(streams),
                }
            )
        elif roll < 0.95:
            slot = rng.randint(1, SLOTS)
            body = random_event_body(rng, slot)
            message = Event(**envelope(box_id), occurred_at=utc_now(), body=body)
        else:
            message = telemetry.model_copy(update=envelope(box_id))
        steady.append(_wire(message))
        unique += 1
    return Phase("first_contact", first, len(first)), Phase("steady", steady, unique)


async def _publisher(
    host: str, port: int, phases: list[list[Wire]], commands: Any, results: Any
) -> None:
    connections: list[MqttConnection] = [
        await connect(
            host,
            port,
            client_id=f"bench-pub-{n}",
            on_message=lambda _t, _p: None,
            max_inflight=WINDOW,
        )
        for n in range(PUBLISHERS)
    ]

    async def pump(connection: MqttConnection, share: list[Wire]) -> None:
        for start in range(0, len(share), WINDOW):
            waits = []
            for topic, payload, qos, retain in share[start : start + WINDOW]:
                if qos == 0:
                    connection.publish(topic, payload, 0, retain)
                else:
                    waits.append(connection.publish_acked(topic, payload, retain))
            await asyncio.gather(*waits)

    results.put("ready")
    loop = asyncio.get_running_loop()
    while (index := await loop.run_in_executor(None, commands.get)) is not None:
        started = time.perf_counter()
        messages = phases[index]
        await asyncio.gather(*(pump(c, messages[n::PUBLISHERS]) for n, c in enumerate(connections)))
        results.put(time.perf_counter() - started)
    for connection in connections:
        connection.disconnect()


def _publisher_main(
    host: str, port: int, phases: list[list[Wire]], commands: Any, results: Any
) -> None:
    asyncio.run(_publisher(host, port, phases, commands, results))


class PublisherProcess:
    """The fleet's publisher in its own process, so it takes no interpreter lock from ingest."""

    def __init__(self, broker: MosquittoBroker, phases: tuple[Phase, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self._commands = context.Queue()
        self._results = context.Queue()
        self._process: BaseProcess = context.Process(
            target=_publisher_main,
            args=(
                broker.host,
                broker.port,
                [p.messages for p in phases],
                self._commands,
                self._results,
            ),
            name="bench-publisher",
            daemon=True,
        )

    def __enter__(self) -> PublisherProcess:
        self._process.start()
        if self._results.get(timeout=60) != "ready":
            raise RuntimeError("publisher did not start")
        return self

    def send(self, index: int) -> None:
        """Start publishing phase `index`; returns at once."""
        self._commands.put(index)

    def took(self, timeout: float) -> float:
        return float(self._results.get(timeout=timeout))

    def __exit__(self, *_exc: object) -> None:
        self._commands.put(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def _timed_phases(
    broker: MosquittoBroker,
    phases: tuple[Phase, ...],
    done: Callable[[Phase, int], bool],
    timeout: float,
) -> dict[str, float]:
    """Publish each phase from the publisher process; msgs/s until `done(phase, index)`."""
    figures: dict[str, float] = {}
    with PublisherProcess(broker, phases) as publisher:
        for index, phase in enumerate(phases):
            started = time.perf_counter()
            publisher.send(index)
            deadline = started + timeout
            while not done(phase, index) and time.perf_counter() < deadline:
                time.sleep(0.005)
            took = time.perf_counter() - started
            publish_s = publisher.took(timeout)
            complete = done(phase, index)
            figures[f"{phase.name}_msgs_per_s"] = round((phase.unique if complete else 0) / took, 1)
            figures[f"{phase.name}_complete"] = complete
            figures[f"{phase.name}_publisher_msgs_per_s"] = round(
                len(phase.messages) / publish_s, 1
            )
    return figures


def raw_subscriber(
    broker: MosquittoBroker, phases: tuple[Phase, ...], timeout: float
) -> dict[str, float]:
    """A paho subscriber that only counts: msgs/s from the first publish to the last arrival."""
    received = [0]
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        for topic_filter in controller_subscriptions():
            c.subscribe(topic_filter, qos=1)
        connected.set()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        received[0] += 1

    targets = [sum(len(p.messages) for p in phases[: i + 1]) for i in range(len(phases))]
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        connected.wait(10)
        time.sleep(0.5)  # the SUBACK
        figures = _timed_phases(
            broker,
            # the raw subscriber's "unique" is everything it receives
            tuple(Phase(p.name, p.messages, len(p.messages)) for p in phases),
            lambda _p, index: received[0] >= targets[index],
            timeout,
        )
    finally:
        client.disconnect()
        client.loop_stop()
    return figures


def controller_ingest(
    broker: MosquittoBroker,
    phases: tuple[Phase, ...],
    database_url: str,
    timeout: float,
    split: bool,
) -> dict[str, float]:
    """The controller's ingest on `database_url`: msgs/s until every unique message is written."""
    settings = Settings(
        env="development",
        database_url=database_url,
        broker_url=broker.url,
        shared_group=None,
        ingest_writer_process=split,
    )
    upgrade(database_url)
    engine = make_engine(database_url)
    client = ControllerMqtt(broker.url, shared_group=None)
    ingest = Ingest(settings, engine, client)
    targets = [sum(p.unique for p in phases[: i + 1]) for i in range(len(phases))]
    ingest.start()
    try:
        if not client.start(10):
            raise RuntimeError(f"controller did not connect to {broker.url}")
        time.sleep(0.5)
        figures = _timed_phases(
            broker, phases, lambda _p, index: ingest.written >= targets[index], timeout
        )
        figures["written"] = ingest.written
    finally:
        client.stop()
        ingest.stop()
        engine.dispose()
    return figures


def profile_writer(load: Phase, database_url: str, batch: int = 5000) -> str:
    """One writer batch of decoded messages under cProfile; the top functions by own time."""
    from controller.ingest.dispatcher import Dispatcher
    from controller.ingest.handlers import register_fleet_handlers
    from controller.ingest.writer import BatchWriter

    settings = Settings(env="development", database_url=database_url, shared_group=None)
    engine = make_engine(database_url)
    upgrade(database_url)
    dispatcher = Dispatcher(lambda _m: None)
    register_fleet_handlers(dispatcher, settings, None)
    writer = BatchWriter(engine, dispatcher.batch_handler, batch_size=batch)
    messages = [decode(t, p) for t, p, _q, _r in load.messages[:batch]]
    profiler = cProfile.Profile()
    profiler.enable()
    for start in range(0, len(messages), 500):
        writer.write(messages[start : start + 500])
    profiler.disable()
    engine.dispose()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="20,000 messages, 500 boxes (CI)")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--boxes", type=int, default=None)
    parser.add_argument("--mode", choices=("split", "inline"), default="split")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one writer batch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    total = args.messages or (20_000 if args.short else 200_000)
    boxes = args.boxes or (500 if args.short else 2000)
    phases = make_phases(total, boxes)
    first, steady = phases
    timeout = max(60.0, total / 500)
    split = args.mode == "split"
    figures: dict[str, object] = {
        "messages": total,
        "unique": steady.unique,
        "boxes": boxes,
        "first_contact_messages": len(first.messages),
        "mode": args.mode,
    }
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        broker = IngestBroker(Path(workdir) / "broker")
        broker.start()
        try:
            raw = raw_subscriber(broker, phases, timeout)
            figures.update({f"raw_{k}": v for k, v in raw.items()})
            sqlite = controller_ingest(
                broker, phases, f"sqlite:///{workdir}/ingest.db", timeout, split
            )
            figures.update({f"sqlite_{k}": v for k, v in sqlite.items()})
            if args.profile:
                log.error("%s", profile_writer(steady, f"sqlite:///{workdir}/profile.db"))
            if not args.no_postgres:
                with PostgresServer() as server:
                    url = server.url(server.create_database())
                    pg = controller_ingest(broker, phases, url, timeout, split)
                figures.update({f"postgres_{k}": v for k, v in pg.items()})
        finally:
            broker.stop()
    raw_rate = float(figures["raw_steady_msgs_per_s"])  # type: ignore[arg-type]
    for db in ("sqlite", "postgres"):
        if f"{db}_steady_msgs_per_s" in figures:
            rate = float(figures[f"{db}_steady_msgs_per_s"])  # type: ignore[arg-type]
            figures[f"{db}_ratio"] = round(rate / raw_rate, 3) if raw_rate else None
            figures[f"{db}_meets_target"] = (
                rate >= TARGET_MSGS_PER_S and rate / raw_rate >= TARGET_RATIO if raw_rate else False
            )
    emit(figures)
    record(
        "ingest",
        figures,
        title="Controller ingest vs raw paho subscriber",
        note=(
            f"target (steady phase) >= {TARGET_MSGS_PER_S} msgs/s and ratio >= {TARGET_RATIO}; "
            f"{int(DUPLICATE_SHARE * 100)} % re-sends; publisher in its own process; "
            f"first contact (births, states, first statuses) reported, not timed against "
            f"the target; one throwaway Mosquitto; {'short' if args.short else 'full'} mode"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
