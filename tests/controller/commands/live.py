"""A running centre for command and job tests: the real controller (ingest, MQTT, API over
real HTTP on 127.0.0.1) and, as the box, the fleet simulator speaking the exact protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session

from controller.core.settings import Settings
from controller.devices.models import Box
from controller.runtime import Controller
from simulator.fleet import FleetSettings, FleetSimulator
from tests.harness.ports import free_port, wait_for_port

__all__ = ["BOX", "Centre", "online_slot", "running_centre", "running_fleet", "wait_until"]

BOX = "mh-0001-a"


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until `check()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@dataclass
class Centre:
    controller: Controller
    api: TestClient
    base_url: str

    def box_online(self, box_id: str, school_id: int | None = None) -> bool:
        with Session(self.controller.engine) as session:
            box = session.get(Box, box_id)
            return (
                box is not None and box.online and (school_id is None or box.school_id == school_id)
            )


@contextmanager
def running_centre(settings: Settings, broker_url: str, media_dir: Path) -> Iterator[Centre]:
    """Controller with ingest and sweeps, its API served by uvicorn on a free port."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    controller = Controller(
        settings.model_copy(
            update={"broker_url": broker_url, "media_dir": media_dir, "public_base_url": base_url}
        )
    )
    assert controller.start(wait_s=10)
    server = uvicorn.Server(
        uvicorn.Config(controller.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield Centre(controller=controller, api=TestClient(controller.app), base_url=base_url)
    finally:
        server.should_exit = True
        thread.join(10)
        controller.stop()


@contextmanager
def running_fleet(broker_url: str) -> Iterator[FleetSimulator]:
    """One simulated school box, `mh-0001-a` of school `mh-0001`, with no random faults."""
    fleet = FleetSimulator(
        FleetSettings(
            schools=1, broker_url=broker_url, prefix="mh", fault_rate=0, telemetry_interval_s=60
        )
    )
    fleet.start()
    try:
        assert fleet.wait_connected(timeout=10)
        yield fleet
    finally:
        fleet.stop()


def online_slot(fleet: FleetSimulator, box_id: str = BOX) -> int:
    """A slot whose simulated camera is online (the simulator breaks a few on purpose)."""
    cameras = fleet.box(box_id).cameras
    return next(slot for slot, cam in sorted(cameras.items()) if cam.state.value == "online")
