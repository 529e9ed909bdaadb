"""Detection latency: camera dark -> active alarm, and box uplink killed -> box offline.

Real parts end to end: a throwaway Mosquitto, the controller's ingest and sweeps on SQLite,
one simulated RTSP camera, and a real agent (`schoolcam-agent run`, a child process)
recording it. Two measurements, each repeated `--trials` times:

- camera dark: the camera's RTSP server mount goes away (fault `gone`); time until the
  controller holds an active alarm for that camera (target 15 s);
- camera stalled: the RTSP session stays up but no media arrives (fault `stall`); same;
- uplink dead: the agent is SIGKILLed (its socket is closed by the kernel, so the broker
  sees it at once), and separately SIGSTOPped (the connection stays open and silent, as
  when a line dies, so only the broker's keepalive notices); time until the controller marks
  the box offline (target 1.5 x the agent's keepalive).

`--short` runs one trial each with a 5 s keepalive (about a minute in all).
"""

from __future__ import annotations

import argparse
import logging
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session, col, select

from bench.report import emit, record
from controller.alarms.models import Alarm
from controller.core.settings import Settings
from controller.devices.models import Box, Camera
from controller.migrations import upgrade
from controller.runtime import Controller
from simulator.cameras import CameraSimulator, Fault
from simulator.demo.agents import AgentPlan, AgentProcesses
from tests.harness.mosquitto import MosquittoBroker

BOX = "bench-0001-a"
TARGET_CAMERA_S = 15.0
KEEPALIVE_FACTOR = 1.5


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `check()` holds (polled every 50 ms); RuntimeError after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"{what} not seen within {timeout:.0f} s")


class Rig:
    """Broker, controller, one camera and one agent; `check_*` read the controller's DB."""

    def __init__(self, workdir: Path, keepalive_s: int) -> None:
        self.workdir = workdir
        self.keepalive_s = keepalive_s
        self.broker = MosquittoBroker(workdir / "broker")
        self.cameras = CameraSimulator(1)
        self.controller: Controller | None = None
        self.agents: AgentProcesses | None = None

    def start(self) -> None:
        self.broker.start()
        url = f"sqlite:///{self.workdir / 'controller.db'}"
        upgrade(url)
        settings = Settings(
            env="development",
            database_url=url,
            broker_url=self.broker.url,
            shared_group=None,
            sweep_interval_s=1.0,
            ingest_batch_interval_s=0.05,
        )
        self.controller = Controller(settings, ingest=True)
        self.controller.start()
        self.cameras.start()
        self.agents = AgentProcesses(
            self.workdir, self.broker.url, "5", keepalive_s=self.keepalive_s
        )
        self.start_agent()

    def start_agent(self) -> None:
        assert self.agents is not None
        plan = AgentPlan(
            BOX, "bench-0001", {1: ("Main gate", self.cameras.url(1), self.cameras.url(1, True))}
        )
        self.agents.start([plan])
        wait_for(self.camera_online, 60, "camera online at the controller")

    def stop(self) -> None:
        if self.agents is not None:
            self.agents.stop()
        self.cameras.stop()
        if self.controller is not None:
            self.controller.stop()
        self.broker.stop()

    def _session(self) -> Session:
        assert self.controller is not None
        return Session(self.controller.engine)

    def camera_online(self) -> bool:
        with self._session() as session:
            camera = session.get(Camera, (BOX, 1))
            box = session.get(Box, BOX)
            return bool(camera and box and box.online and camera.state == "online")

    def camera_alarm(self) -> bool:
        with self._session() as session:
            stmt = select(Alarm).where(
                Alarm.box_id == BOX, Alarm.slot == 1, col(Alarm.active).is_(True)
            )
            return session.exec(stmt).first() is not None

    def box_offline(self) -> bool:
        with self._session() as session:
            box = session.get(Box, BOX)
            return box is not None and not box.online


def _camera_trial(rig: Rig, fault: Fault) -> float:
    rig.cameras.set_fault(1, fault)
    took = wait_for(rig.camera_alarm, 60, f"camera alarm after {fault}")
    rig.cameras.set_fault(1, Fault.NONE)
    wait_for(lambda: not rig.camera_alarm(), 60, "camera alarm cleared")
    wait_for(rig.camera_online, 60, "camera back online")
    return took


def _uplink_trial(rig: Rig, how: signal.Signals) -> float:
    """SIGKILL: the kernel closes the socket (the broker sees it at once); SIGSTOP: the box
    goes silent with its connection open, as when a line dies, so only keepalive tells."""
    assert rig.agents is not None
    process = rig.agents.processes[BOX]
    process.send_signal(how)
    try:
        return wait_for(rig.box_offline, 10 * rig.keepalive_s, "box offline")
    finally:
        process.kill()
        process.wait()
        rig.agents.processes.clear()


def measure(trials: int, keepalive_s: int) -> dict[str, object]:
    results: dict[str, list[float]] = {"gone": [], "stall": [], "kill": [], "silent": []}
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as workdir:
        rig = Rig(Path(workdir), keepalive_s)
        try:
            rig.start()
            for _ in range(trials):
                results["gone"].append(_camera_trial(rig, Fault.GONE))
                results["stall"].append(_camera_trial(rig, Fault.STALL))
            for trial in range(trials):
                results["kill"].append(_uplink_trial(rig, signal.SIGKILL))
                rig.start_agent()
                results["silent"].append(_uplink_trial(rig, signal.SIGSTOP))
                if trial < trials - 1:
                    rig.start_agent()
        finally:
            rig.stop()
    uplink_target = KEEPALIVE_FACTOR * keepalive_s
    names = {
        "gone": "camera_gone_to_alarm_s",
        "stall": "camera_stall_to_alarm_s",
        "kill": "agent_sigkill_to_offline_s",
        "silent": "uplink_silent_to_offline_s",
    }
    figures: dict[str, object] = {"trials": trials, "keepalive_s": keepalive_s}
    for key, name in names.items():
        figures[f"{name}_median"] = round(statistics.median(results[key]), 2)
        figures[f"{name}_max"] = round(max(results[key]), 2)
    camera_worst = max(results["gone"] + results["stall"])
    figures["camera_meets_target"] = camera_worst <= TARGET_CAMERA_S
    figures["uplink_target_s"] = uplink_target
    figures["uplink_meets_target"] = max(results["kill"] + results["silent"]) <= uplink_target
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="one trial each, keepalive 5 s")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--keepalive", type=int, default=None, help="agent keepalive (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    trials = args.trials or (1 if args.short else 3)
    keepalive = args.keepalive or (5 if args.short else 10)
    figures = measure(trials, keepalive)
    emit(figures)
    record(
        "detection_latency",
        figures,
        title="Detection latency (camera dark, uplink dead)",
        note=(
            f"targets: camera dark -> active alarm <= {TARGET_CAMERA_S:.0f} s; SIGKILLed agent "
            f"-> box offline <= {KEEPALIVE_FACTOR} x keepalive; real agent, Mosquitto, SQLite; "
            f"{'short' if args.short else 'full'} mode"
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
