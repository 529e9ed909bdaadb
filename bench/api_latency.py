"""API latency at district scale: p50/p99 of the fleet summary, camera list and alarm list.

Loads a fleet of 10,000 schools (160,000 cameras, 10,000 boxes, 20,000 alarms of which 2 %
active) into a fresh SQLite database, serves the real app with uvicorn on 127.0.0.1, and
times HTTP requests from httpx as an ops user. The bulk load uses SQLAlchemy Core
`insert(...)` with many rows per statement, not the domain services: row by row through the
services would take longer than the benchmark itself; the schema comes from the migrations.
`--short` loads 1,000 schools and sends fewer requests. Target: p99 under 100 ms on SQLite.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import threading
import time
from datetime import timedelta

import httpx
import uvicorn
from sqlalchemy import Engine, insert
from sqlmodel import Session

from bench.report import emit, record
from controller.alarms.models import Alarm, Severity
from controller.app import create_app
from controller.auth.models import Role, UserCreate
from controller.auth.service import create_user
from controller.core.db import make_engine
from controller.core.settings import Settings
from controller.core.types import utc_now
from controller.devices.models import Box, Camera
from controller.migrations import upgrade
from controller.schools.models import School
from tests.harness.ports import free_port

TARGET_P99_MS = 100.0
VENDORS = ("Hikvision", "Dahua", "Uniview")
TYPES = ("primary", "middle", "kindergarten")
CHUNK = 5000


def load_fleet(engine: Engine, schools: int, seed: int = 3) -> dict[str, int]:
    """Schools, one box each, 16 cameras per box, alarms; returns the row counts."""
    rng = random.Random(seed)
    now = utc_now()
    school_rows = [
        {
            "id": n,
            "code": f"s-{n:05d}",
            "name": f"School {n}",
            "district": f"d{n % 12}",
            "type": TYPES[n % 3],
            "address": "",
            "latitude": 30 + rng.random(),
            "longitude": 114 + rng.random(),
            "vendor": f"vendor-{n % 5}",
            "created_at": now,
        }
        for n in range(1, schools + 1)
    ]
    box_rows = [
        {
            "box_id": f"s-{n:05d}-a",
            "school_id": n,
            "online": rng.random() > 0.02,
            "session": 1,
            "config_version": 0,
            "last_seen": now,
            "created_at": now,
        }
        for n in range(1, schools + 1)
    ]
    stream = {"codec": "h264", "width": 1920, "height": 1080, "fps": 25.0, "hd": True}
    camera_rows = []
    for n in range(1, schools + 1):
        online_box = box_rows[n - 1]["online"]
        for slot in range(1, 17):
            state = "online" if rng.random() > 0.03 else "offline"
            camera_rows.append(
                {
                    "box_id": f"s-{n:05d}-a",
                    "slot": slot,
                    "school_id": n,
                    "name": f"Slot {slot}",
                    "enabled": True,
                    "vendor": rng.choice(VENDORS),
                    "model": "M1",
                    "firmware": "V5.7.3",
                    "state": state,
                    "box_online": online_box,
                    "since": now,
                    "status_at": now,
                    "recording": state == "online",
                    "hd": rng.random() > 0.1,
                    "has_fault": rng.random() < 0.02,
                    "stream": stream,
                }
            )
    alarm_rows = [
        {
            "source": f"camera:s-{(i % schools) + 1:05d}-a/{i % 16 + 1}",
            "type": f"bench_{i}",
            "severity": Severity.MAJOR,
            "box_id": f"s-{(i % schools) + 1:05d}-a",
            "slot": i % 16 + 1,
            "school_id": (i % schools) + 1,
            "message": "bench",
            "active": i % 50 == 0,
            "acknowledged": False,
            "raised_at": now - timedelta(seconds=i),
            "updated_at": now,
        }
        for i in range(2 * schools)
    ]
    with Session(engine) as session:
        for model, rows in (
            (School, school_rows),
            (Box, box_rows),
            (Camera, camera_rows),
            (Alarm, alarm_rows),
        ):
            for start in range(0, len(rows), CHUNK):
                session.execute(insert(model), rows[start : start + CHUNK])
        session.commit()
    return {"schools": schools, "cameras": len(camera_rows), "alarms": len(alarm_rows)}


class ApiServer:
    """The controller's app on uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        app = create_app(settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="bench-api", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def timings(client: httpx.Client, path: str, requests: int) -> dict[str, float]:
    """p50/p99 in ms of `requests` GETs (after 3 warm-ups)."""
    for _ in range(3):
        client.get(path).raise_for_status()
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        client.get(path).raise_for_status()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
    }


QUERIES = {
    "fleet_summary": "/api/v1/fleet/summary",
    "cameras_offline": "/api/v1/cameras?online=false&limit=50",
    "cameras_school": "/api/v1/cameras?school_id=4242&limit=50",
    "cameras_vendor_not_hd": "/api/v1/cameras?vendor=Dahua&hd=false&limit=50",
    "alarms_active": "/api/v1/alarms?active=true&limit=50",
    "alarms_all": "/api/v1/alarms?limit=50",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="1,000 schools, fewer requests")
    parser.add_argument("--schools", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    schools = args.schools or (1000 if args.short else 10_000)
    requests = args.requests or (50 if args.short else 200)
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as workdir:
        url = f"sqlite:///{workdir}/api.db"
        settings = Settings(env="development", database_url=url, shared_group=None)
        upgrade(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        figures.update(load_fleet(engine, schools))
        figures["load_s"] = round(time.perf_counter() - t0, 1)
        with Session(engine) as session:
            create_user(
                session=session,
                data=UserCreate(username="bench", role=Role.OPS, password="bench-password"),
            )
            session.commit()
        engine.dispose()
        with ApiServer(settings) as base, httpx.Client(base_url=base, timeout=30) as client:
            answer = client.post(
                "/api/v1/auth/token", data={"username": "bench", "password": "bench-password"}
            )
            answer.raise_for_status()
            client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            for name, path in QUERIES.items():
                for key, value in timings(
                    client, path.replace("4242", str(schools // 2)), requests
                ).items():
                    figures[f"{name}_{key}"] = value
    worst = max(v for k, v in figures.items() if k.endswith("p99_ms"))  # type: ignore[type-var]
    figures["worst_p99_ms"] = worst
    figures["meets_target"] = float(worst) < TARGET_P99_MS  # type: ignore[arg-type]
    emit(figures)
    record(
        "api_latency",
        figures,
        title="API latency at district scale (SQLite)",
        note=(
            f"target p99 < {TARGET_P99_MS:.0f} ms; {schools} schools x 16 cameras; "
            f"{requests} sequential requests per query over HTTP on loopback (uvicorn, httpx), "
            f"ops user; {'short' if args.short else 'full'} mode"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
