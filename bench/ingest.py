"""The controller's sustained ingest (msgs/s, dedupe and DB writes included) against raw paho.

One throwaway Mosquitto serves the whole run. A lean publisher (the fleet simulator's asyncio
MQTT client, several connections, pre-encoded protocol-valid messages from many boxes:
camera statuses, events and telemetry with distinct (boot_id, seq), plus a share of exact
re-sends to exercise dedupe) pushes the same message set three times:

1. to a bare paho subscriber (MQTT 5, QoS 1, the controller's filters) that only counts:
   the ceiling a Python subscriber reaches on this broker;
2. to the controller's ingest (ControllerMqtt + Ingest) on SQLite, timed until every unique
   message is written;
3. the same on a throwaway PostgreSQL.

Prints one JSON line and records it in docs/performance.md. `--short` sends 20,000 messages;
the full run 200,000. `--profile` also runs one writer batch under cProfile and prints where
the time goes (stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import random
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.report import emit, record
from controller.core.db import make_engine
from controller.core.metrics import BATCH_LATENCY
from controller.core.settings import Settings
from controller.ingest.service import Ingest
from controller.migrations import upgrade
from controller.mqtt import ControllerMqtt
from protocol import (
    CameraConnectivityEvent,
    CameraState,
    CameraStatus,
    DiskUsage,
    Event,
    QualityFault,
    QualityFaultEvent,
    StreamStats,
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


class IngestBroker(MosquittoBroker):
    """The harness's Mosquitto, queueing without limit so a slow subscriber loses nothing."""

    def _write_config(self) -> None:
        super()._write_config()
        with self.conf_file.open("a") as conf:
            conf.write("max_queued_messages 0\nmax_queued_bytes 0\nlog_type none\n")


@dataclass(frozen=True)
class Load:
    """Pre-encoded messages: (topic, payload, qos, retain); `unique` excludes the re-sends."""

    messages: list[tuple[str, bytes, int, bool]]
    unique: int


def make_load(total: int, boxes: int, seed: int = 7) -> Load:
    """Statuses (80 %), events (10 %), telemetry (5 %) and exact re-sends (5 %)."""
    rng = random.Random(seed)
    now = utc_now()
    stream = StreamStats(
        codec="h264",
        width=1920,
        height=1080,
        fps=25.0,
        bitrate_kbps=4096.0,
        gop=25.0,
        hd=True,
        browser_playable=True,
    )
    boots = {f"bench-{n:05d}-a": (secrets.token_hex(5), [0]) for n in range(1, boxes + 1)}
    box_ids = list(boots)
    status_template = CameraStatus(
        box_id=box_ids[0],
        boot_id="x",
        seq=0,
        slot=1,
        state=CameraState.ONLINE,
        since=now,
        last_packet_at=now,
        recording=True,
        stream=stream,
    )
    telemetry_template = Telemetry(
        box_id=box_ids[0],
        boot_id="x",
        seq=0,
        uptime_s=3600,
        cpu_percent=12.5,
        memory_percent=31.0,
        memory_used_bytes=2_600_000_000,
        load_1m=0.8,
        disks=[
            DiskUsage(
                mount="/var/lib/schoolcam",
                total_bytes=4 * 10**12,
                used_bytes=2 * 10**12,
                free_percent=50.0,
            )
        ],
        temperatures_c={"cpu": 51.0},
        uplink_rtt_ms=12.0,
        cameras_online=16,
        cameras_recording=16,
    )
    messages: list[tuple[str, bytes, int, bool]] = []
    unique = 0
    for _ in range(total):
        roll = rng.random()
        if messages and roll < DUPLICATE_SHARE:
            messages.append(messages[rng.randrange(len(messages))])
            continue
        box_id = rng.choice(box_ids)
        boot_id, counter = boots[box_id]
        counter[0] += 1
        envelope = {"box_id": box_id, "boot_id": boot_id, "seq": counter[0], "sent_at": utc_now()}
        message: CameraStatus | Telemetry | Event
        if roll < 0.85:
            message = status_template.model_copy(update={**envelope, "slot": rng.randint(1, 16)})
        elif roll < 0.95:
            slot = rng.randint(1, 16)
            raised = rng.random() < 0.5
            body = (
                QualityFaultEvent(
                    slot=slot,
                    fault=QualityFault.BLUR,
                    state="raised" if raised else "cleared",
                    value=0.1,
                    threshold=0.25,
                )
                if rng.random() < 0.6
                else CameraConnectivityEvent(
                    type="camera_offline" if raised else "camera_online", slot=slot
                )
            )
            message = Event(**envelope, occurred_at=utc_now(), body=body)
        else:
            message = telemetry_template.model_copy(update=envelope)
        delivery = delivery_for(message)
        messages.append((topic_for(message), encode(message), delivery.qos, delivery.retain))
        unique += 1
    return Load(messages, unique)


async def _publish_all(host: str, port: int, load: Load) -> float:
    """Send every message over PUBLISHERS connections, QoS 1 windows; returns seconds taken."""
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
    started = time.perf_counter()

    async def pump(connection: MqttConnection, share: list[tuple[str, bytes, int, bool]]) -> None:
        for start in range(0, len(share), WINDOW):
            chunk = share[start : start + WINDOW]
            waits = []
            for topic, payload, qos, retain in chunk:
                if qos == 0:
                    connection.publish(topic, payload, 0, retain)
                else:
                    waits.append(connection.publish_acked(topic, payload, retain))
            await asyncio.gather(*waits)

    await asyncio.gather(
        *(pump(c, load.messages[n::PUBLISHERS]) for n, c in enumerate(connections))
    )
    took = time.perf_counter() - started
    for connection in connections:
        connection.disconnect()
    return took


def publish(broker: MosquittoBroker, load: Load) -> float:
    return asyncio.run(_publish_all(broker.host, broker.port, load))


def raw_subscriber(broker: MosquittoBroker, load: Load, timeout: float) -> dict[str, float]:
    """A paho subscriber that only counts: msgs/s from the first publish to the last arrival."""
    received = 0
    done = threading.Event()
    last = [0.0]
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        for topic_filter in controller_subscriptions():
            c.subscribe(topic_filter, qos=1)
        connected.set()

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1
        last[0] = time.perf_counter()
        if received >= len(load.messages):
            done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        connected.wait(10)
        time.sleep(0.5)  # the SUBACK
        started = time.perf_counter()
        publish_s = publish(broker, load)
        done.wait(timeout)
        took = (last[0] or time.perf_counter()) - started
    finally:
        client.disconnect()
        client.loop_stop()
    return {
        "raw_msgs_per_s": round(received / took, 1),
        "raw_received": received,
        "publisher_msgs_per_s": round(len(load.messages) / publish_s, 1),
    }


def controller_ingest(
    broker: MosquittoBroker, load: Load, database_url: str, timeout: float
) -> dict[str, float]:
    """The controller's ingest on `database_url`: msgs/s until every unique message is written."""
    settings = Settings(
        env="development", database_url=database_url, broker_url=broker.url, shared_group=None
    )
    upgrade(database_url)
    engine = make_engine(database_url)
    client = ControllerMqtt(broker.url, shared_group=None)
    ingest = Ingest(settings, engine, client)
    handle_s = [0.0]
    handle = ingest.dispatcher.handle

    def timed(topic: str, payload: bytes) -> None:
        t0 = time.perf_counter()
        handle(topic, payload)
        handle_s[0] += time.perf_counter() - t0

    ingest.start()
    client.subscribe_ingest(timed)  # the same dispatcher, with its time on paho's thread counted
    batch_s0 = _histogram_sum()
    try:
        if not client.start(10):
            raise RuntimeError(f"controller did not connect to {broker.url}")
        time.sleep(0.5)
        started = time.perf_counter()
        publish(broker, load)
        deadline = started + timeout
        while ingest.writer.written < load.unique and time.perf_counter() < deadline:
            time.sleep(0.01)
        took = time.perf_counter() - started
        written = ingest.writer.written
    finally:
        client.stop()
        ingest.stop()
        engine.dispose()
    return {
        "msgs_per_s": round(load.unique / took if written >= load.unique else written / took, 1),
        "written": written,
        "complete": written >= load.unique,
        "network_thread_us_per_msg": round(1e6 * handle_s[0] / len(load.messages), 1),
        "writer_us_per_msg": round(1e6 * (_histogram_sum() - batch_s0) / max(written, 1), 1),
    }


def _histogram_sum() -> float:
    for metric in BATCH_LATENCY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_sum"):
                return float(sample.value)
    return 0.0


def profile_writer(load: Load, database_url: str, batch: int = 5000) -> str:
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
    parser.add_argument("--short", action="store_true", help="20,000 messages (CI)")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--boxes", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one writer batch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    total = args.messages or (20_000 if args.short else 200_000)
    load = make_load(total, args.boxes)
    timeout = max(60.0, total / 500)
    figures: dict[str, object] = {"messages": total, "unique": load.unique, "boxes": args.boxes}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as workdir:
        broker = IngestBroker(Path(workdir) / "broker")
        broker.start()
        try:
            figures.update(raw_subscriber(broker, load, timeout))
            sqlite = controller_ingest(broker, load, f"sqlite:///{workdir}/ingest.db", timeout)
            figures.update({f"sqlite_{k}": v for k, v in sqlite.items()})
            if args.profile:
                log.error("%s", profile_writer(load, f"sqlite:///{workdir}/profile.db"))
            if not args.no_postgres:
                with PostgresServer() as server:
                    url = server.url(server.create_database())
                    pg = controller_ingest(broker, load, url, timeout)
                figures.update({f"postgres_{k}": v for k, v in pg.items()})
        finally:
            broker.stop()
    raw = float(figures["raw_msgs_per_s"])  # type: ignore[arg-type]
    for db in ("sqlite", "postgres"):
        if f"{db}_msgs_per_s" in figures:
            rate = float(figures[f"{db}_msgs_per_s"])  # type: ignore[arg-type]
            figures[f"{db}_ratio"] = round(rate / raw, 3) if raw else None
            figures[f"{db}_meets_target"] = (
                rate >= TARGET_MSGS_PER_S and rate / raw >= TARGET_RATIO if raw else False
            )
    emit(figures)
    record(
        "ingest",
        figures,
        title="Controller ingest vs raw paho subscriber",
        note=(
            f"target >= {TARGET_MSGS_PER_S} msgs/s and ratio >= {TARGET_RATIO}; "
            f"{int(DUPLICATE_SHARE * 100)} % re-sends; one throwaway Mosquitto; "
            f"{'short' if args.short else 'full'} mode"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
