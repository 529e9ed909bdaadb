"""The controller's batch writer alone, called directly: msgs/s on SQLite and PostgreSQL.

No broker and no decoding: messages are built once through the protocol models and handed to
`BatchWriter.write` in batches of 500, the way ingest does it. Two phases per database:

1. first contact: every box sends its birth, a `state=online` and its 16 camera statuses
   (inserts, history rows, firmware checks and alarms);
2. steady: 80 % camera statuses (mostly heartbeats, about 2 % of them a change of state),
   10 % events (quality faults and camera offline/online, raised and cleared), 5 % telemetry,
   5 % exact re-sends of events (the events table's unique key drops them).

Prints one JSON line and records it in docs/performance.md. `--short` runs 1,000 boxes and
40,000 steady messages on SQLite and PostgreSQL; the full run 10,000 boxes and 200,000.
`--profile` prints the top functions of the steady phase on SQLite (stderr).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import random
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text

from bench.messages import (
    measured_streams,
    random_event_body,
    status_template,
    telemetry_template,
)
from bench.report import emit, record
from controller.core.db import make_engine
from controller.core.settings import Settings
from controller.ingest.dispatcher import Dispatcher
from controller.ingest.handlers import register_fleet_handlers
from controller.ingest.writer import BatchWriter
from controller.migrations import upgrade
from protocol import (
    Birth,
    BoxState,
    CameraInventory,
    CameraState,
    CameraStatus,
    Event,
    Message,
    utc_now,
)
from tests.harness.postgres import PostgresServer

log = logging.getLogger("bench.ingest_writer")

TARGET_MSGS_PER_S = 10_000
BATCH = 500
FIRMWARE = ("V5.7.3 build 230301", "V5.4.0 build 160530", "V5.6.0 build 220101")


class Fleet:
    """Protocol-valid messages of `boxes` boxes, each with its own boot and seq counter."""

    def __init__(self, boxes: int, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.box_ids = [f"wb-{n:05d}-a" for n in range(1, boxes + 1)]
        self.seq = dict.fromkeys(self.box_ids, 0)
        self.down: set[tuple[str, int]] = set()
        self.now = utc_now()
        self._status = status_template(self.box_ids[0], self.now, completeness=1.0)
        self._streams = measured_streams(self.rng)
        self._telemetry = telemetry_template(self.box_ids[0])

    def _env(self, box_id: str) -> dict[str, object]:
        self.seq[box_id] += 1
        self.now += timedelta(microseconds=50)
        return {"box_id": box_id, "boot_id": "boot-1", "seq": self.seq[box_id], "sent_at": self.now}

    def first_contact(self) -> list[Message]:
        messages: list[Message] = []
        for index, box_id in enumerate(self.box_ids):
            cams = [
                CameraInventory(
                    slot=s,
                    name=f"area {s}",
                    profile="hikvision",
                    vendor="Hikvision",
                    firmware=FIRMWARE[(index + s) % len(FIRMWARE)],
                )
                for s in range(1, 17)
            ]
            messages.append(
                Birth(
                    **self._env(box_id),
                    software_version="0.1.0",
                    session=1,
                    started_at=self.now,
                    config_version=0,
                    cameras=cams,
                )
            )
            messages.append(
                BoxState(**self._env(box_id), state="online", session=1, reason="connected")
            )
            messages.extend(self.status(box_id, s) for s in range(1, 17))
        return messages

    def status(self, box_id: str, slot: int, flip: bool = False) -> CameraStatus:
        key = (box_id, slot)
        if flip:
            self.down.symmetric_difference_update({key})
        online = key not in self.down
        update = {
            **self._env(box_id),
            "slot": slot,
            "last_packet_at": self.now,
            "stream": self.rng.choice(self._streams),
        }
        if not online:
            update.update(
                state=CameraState.OFFLINE, recording=False, stream=None, error="no packets"
            )
        if flip:
            update["since"] = self.now
        return self._status.model_copy(update=update)

    def steady(self, total: int) -> list[Message]:
        rng = self.rng
        messages: list[Message] = []
        events: list[Message] = []
        while len(messages) < total:
            roll = rng.random()
            box_id = rng.choice(self.box_ids)
            slot = rng.randint(1, 16)
            if roll < 0.80:
                messages.append(self.status(box_id, slot, flip=rng.random() < 0.02))
            elif roll < 0.90:
                body = random_event_body(rng, slot)
                event = Event(**self._env(box_id), occurred_at=self.now, body=body)
                events.append(event)
                messages.append(event)
            elif roll < 0.95:
                messages.append(self._telemetry.model_copy(update=self._env(box_id)))
            elif events:
                messages.append(rng.choice(events))
        return messages


def _rate(write: Callable[[list[Message]], None], messages: list[Message]) -> float:
    started = time.perf_counter()
    for start in range(0, len(messages), BATCH):
        write(messages[start : start + BATCH])
    return round(len(messages) / (time.perf_counter() - started), 1)


def measure(database_url: str, boxes: int, steady: int, profile: bool = False) -> dict[str, float]:
    """First-contact and steady msgs/s of the batch writer on `database_url`."""
    upgrade(database_url)
    engine = make_engine(database_url)
    settings = Settings(env="development", database_url=database_url, shared_group=None)
    dispatcher = Dispatcher(lambda _m: None)
    register_fleet_handlers(dispatcher, settings, None)
    writer = BatchWriter(engine, dispatcher.batch_handler, batch_size=BATCH)
    fleet = Fleet(boxes)
    try:
        first = _rate(writer.write, fleet.first_contact())
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        load = fleet.steady(steady)
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        rate = _rate(writer.write, load)
        if profiler is not None:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            log.error("%s", out.getvalue())
    finally:
        engine.dispose()
    return {"first_contact_msgs_per_s": first, "steady_msgs_per_s": rate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="1,000 boxes, 40,000 messages")
    parser.add_argument("--boxes", type=int, default=None)
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the SQLite steady run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    boxes = args.boxes or (1000 if args.short else 10_000)
    steady = args.messages or (40_000 if args.short else 200_000)
    figures: dict[str, object] = {"boxes": boxes, "cameras": boxes * 16, "steady": steady}
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as workdir:
        sqlite = measure(f"sqlite:///{workdir}/writer.db", boxes, steady, args.profile)
        figures.update({f"sqlite_{k}": v for k, v in sqlite.items()})
        if not args.no_postgres:
            with PostgresServer() as server:
                pg = measure(server.url(server.create_database()), boxes, steady)
            figures.update({f"postgres_{k}": v for k, v in pg.items()})
    rates = [float(v) for k, v in figures.items() if k.endswith("steady_msgs_per_s")]  # type: ignore[arg-type]
    figures["meets_target"] = min(rates) >= TARGET_MSGS_PER_S
    emit(figures)
    record(
        "ingest_writer",
        figures,
        title="Controller batch writer, called directly",
        note=(
            f"target >= {TARGET_MSGS_PER_S} steady msgs/s; batches of {BATCH}; "
            f"{'short' if args.short else 'full'} mode"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
