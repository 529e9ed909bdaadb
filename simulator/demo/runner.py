"""`Demo`: the composition root of `schoolcam-sim demo`; starts every part and stops them in order.

Start order: data dir, broker, controller (migrate, seed, ingest + sweeps, API on uvicorn in a
thread), camera simulator, real agents, simulated fleet, fault injector. Stop is the reverse,
and a part that failed to start stops the ones already running.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from controller.core.settings import Settings
from controller.migrations import upgrade
from controller.runtime import Controller
from controller.schools.models import DEFAULT_SLOT_AREAS
from simulator.broker import BrokerStartError, EmbeddedBroker
from simulator.cameras import CameraSimulator, CameraSimulatorError
from simulator.demo.agents import AgentPlan, AgentProcesses
from simulator.demo.district import PlannedSchool, plan_district
from simulator.demo.faults import DEFAULT_PERIOD_S, DEFAULT_TIMELINE, FaultInjector, scaled
from simulator.demo.seed import DemoLogin, demo_logins, seed
from simulator.fleet import FleetSettings, FleetSimulator

__all__ = ["Demo", "DemoError", "DemoOptions", "run_demo"]

log = logging.getLogger(__name__)

MARKER = ".schoolcam-demo"
PREFIX = "jh"


class DemoError(RuntimeError):
    """The demo cannot start as asked (port taken, data dir not ours, no usable broker)."""


@dataclass(frozen=True)
class DemoOptions:
    """What `schoolcam-sim demo` was asked for."""

    data_dir: Path = Path("demo-data")
    fresh: bool = False
    broker_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    agents: int = 2
    cameras_per_agent: int = 4
    schools: int = 50
    fleet_fault_rate: float = 1.0
    fault_scale: float = 1.0
    faults: bool = True
    seed: int = 2026


@dataclass
class _Parts:
    broker: EmbeddedBroker | None = None
    controller: Controller | None = None
    server: uvicorn.Server | None = None
    server_thread: threading.Thread | None = None
    cameras: CameraSimulator | None = None
    agents: AgentProcesses | None = None
    fleet: FleetSimulator | None = None
    injector: FaultInjector | None = None
    stops: list[tuple[str, Callable[[], None]]] = field(default_factory=list)


class Demo:
    """One demo; `start()` brings it up, `stop()` takes it down (both from the main thread)."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.parts = _Parts()
        self.broker_url = ""
        self.broker_kind = ""
        self.schools: list[PlannedSchool] = plan_district(
            options.agents + options.schools, prefix=PREFIX, seed=options.seed
        )
        self.logins: list[DemoLogin] = []
        self.plans: list[AgentPlan] = []
        self._secret = ""

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    # --- start ------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._prepare_data_dir()
            self._start_broker()
            self._start_controller()
            if self.options.agents:
                self._start_agents()
            if self.options.schools:
                self._start_fleet()
            if self.options.faults:
                self._start_faults()
        except BaseException:
            self.stop()
            raise

    def _prepare_data_dir(self) -> None:
        data = self.data_dir
        if self.options.fresh and data.exists():
            if any(data.iterdir()) and not (data / MARKER).exists():
                raise DemoError(f"{data} is not a demo data directory; refusing to wipe it")
            shutil.rmtree(data)
        if data.exists() and any(data.iterdir()) and not (data / MARKER).exists():
            raise DemoError(f"{data} exists and is not a demo data directory; pick another")
        data.mkdir(parents=True, exist_ok=True)
        (data / MARKER).touch()
        logins_file = data / "logins.json"
        if logins_file.exists():
            saved = json.loads(logins_file.read_text())
            self.logins = [DemoLogin(**entry) for entry in saved["logins"]]
            self._secret = str(saved["secret_key"])
        else:
            self.logins = demo_logins(self.schools)
            self._secret = secrets.token_urlsafe(32)
            document = {"secret_key": self._secret, "logins": [vars(x) for x in self.logins]}
            logins_file.write_text(json.dumps(document, indent=2))
            logins_file.chmod(0o600)

    def _start_broker(self) -> None:
        if self.options.broker_url:
            self.broker_url, self.broker_kind = self.options.broker_url, "external"
            return
        broker = EmbeddedBroker()
        try:
            broker.start()
        except BrokerStartError as exc:
            raise DemoError(str(exc)) from exc
        self.parts.broker = broker
        self.broker_url, self.broker_kind = broker.url, "embedded amqtt"
        self.parts.stops.append(("broker", broker.stop))

    def _settings(self) -> Settings:
        values: dict[str, Any] = {
            "env": "development",
            "secret_key": self._secret,
            "database_url": f"sqlite:///{self.data_dir / 'controller.db'}",
            "broker_url": self.broker_url,
            "shared_group": None,  # one controller; the embedded broker has no $share
            "sweep_interval_s": 5.0,
            "box_silent_s": 90.0,
            "camera_offline_alarm_s": 120.0,
        }
        if self.broker_kind == "embedded amqtt":
            values["broker_protocol"] = "3.1.1"
        return Settings(**values)

    def _start_controller(self) -> None:
        _check_port_free(self.options.host, self.options.port)
        settings = self._settings()
        upgrade(settings.database_url)
        controller = Controller(settings, ingest=True)
        created = seed(controller.engine, self.schools, self.logins)
        log.info("seeded %s", created or "nothing new (kept data dir)")
        self.parts.controller = controller
        self.parts.stops.append(("controller", controller.stop))
        if not controller.start(wait_s=10):
            log.warning("controller not connected to %s yet; it keeps trying", self.broker_url)
        config = uvicorn.Config(
            controller.app,
            host=self.options.host,
            port=self.options.port,
            log_config=None,
            log_level="warning",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="demo-api", daemon=True)
        thread.start()
        self.parts.server, self.parts.server_thread = server, thread
        self.parts.stops.append(("api", self._stop_api))
        for _ in range(200):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not server.started:
            raise DemoError(f"the API did not start on {self.url}")

    def _stop_api(self) -> None:
        if self.parts.server is not None:
            self.parts.server.should_exit = True
        if self.parts.server_thread is not None:
            self.parts.server_thread.join(10)

    def _start_agents(self) -> None:
        per = self.options.cameras_per_agent
        cameras = CameraSimulator(self.options.agents * per)
        try:
            cameras.start()
        except CameraSimulatorError as exc:
            raise DemoError(
                f"the camera simulator did not start ({exc}); install GStreamer's RTSP server "
                "(make system-deps) or run without real agents (--agents 0)"
            ) from exc
        self.parts.cameras = cameras
        self.parts.stops.append(("cameras", cameras.stop))
        for number, school in enumerate(self.schools[: self.options.agents]):
            first = number * per
            self.plans.append(
                AgentPlan(
                    box_id=school.box_id,
                    school=school.code,
                    cameras={
                        slot: (
                            DEFAULT_SLOT_AREAS[slot - 1],
                            cameras.url(first + slot),
                            cameras.url(first + slot, sub=True),
                        )
                        for slot in range(1, per + 1)
                    },
                )
            )
        protocol = "3.1.1" if self.broker_kind == "embedded amqtt" else "5"
        agents = AgentProcesses(self.data_dir, self.broker_url, protocol)
        self.parts.agents = agents
        self.parts.stops.append(("agents", agents.stop))
        agents.start(self.plans)

    def _start_fleet(self) -> None:
        fleet = FleetSimulator(
            FleetSettings(
                schools=self.options.schools,
                broker_url=self.broker_url,
                prefix=PREFIX,
                first_index=self.options.agents + 1,
                fault_rate=self.options.fleet_fault_rate,
                fault_duration_s=90,
                keepalive_s=10,
                seed=self.options.seed,
            )
        )
        fleet.start()
        self.parts.fleet = fleet
        self.parts.stops.append(("fleet", fleet.stop))

    def _start_faults(self) -> None:
        timeline = scaled(DEFAULT_TIMELINE, self.options.fault_scale)
        injector = FaultInjector(
            _Targets(self), timeline, period_s=DEFAULT_PERIOD_S * self.options.fault_scale
        )
        injector.start()
        self.parts.injector = injector
        self.parts.stops.append(("faults", injector.stop))

    # --- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop what runs, newest first; every part is stopped even if one fails."""
        while self.parts.stops:
            name, stop = self.parts.stops.pop()
            try:
                stop()
                log.info("stopped %s", name)
            except Exception:
                log.exception("stopping %s failed", name)

    def child_pids(self) -> list[int]:
        """Every child process the demo started (for the tests' no-orphan check)."""
        pids = list(self.parts.agents.pids) if self.parts.agents else []
        if self.parts.cameras is not None and self.parts.cameras.pid is not None:
            pids.append(self.parts.cameras.pid)
        return pids


class _Targets:
    """What the fault injector may break in this demo."""

    def __init__(self, demo: Demo) -> None:
        self._demo = demo

    def camera_count(self) -> int:
        cameras = self._demo.parts.cameras
        return cameras.count if cameras is not None else 0

    def set_camera_fault(self, number: int, fault: str) -> str:
        cameras = self._demo.parts.cameras
        assert cameras is not None
        cameras.set_fault(number, fault)
        per = self._demo.options.cameras_per_agent
        plan = self._demo.plans[(number - 1) // per]
        return f"{plan.box_id}/{(number - 1) % per + 1}"

    def box_count(self) -> int:
        fleet = self._demo.parts.fleet
        return len(fleet.boxes) if fleet is not None else 0

    def drop_uplink(self, number: int, duration_s: float) -> str:
        fleet = self._demo.parts.fleet
        assert fleet is not None
        box = fleet.boxes[number - 1]
        fleet.call(lambda: box.lose_uplink(duration_s))
        return box.box_id


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DemoError(f"port {port} on {host} is taken ({exc.strerror}); use --port") from exc


def run_demo(options: DemoOptions, echo: Callable[[str], None]) -> None:
    """Run the demo in the foreground until Ctrl-C or SIGTERM."""
    from simulator.demo.banner import banner

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    demo = Demo(options)
    try:
        echo("Starting the schoolcam demo (the first run also makes the camera clips)...")
        demo.start()
        echo(banner(demo))
        reported: set[str] = set()
        while not stop.wait(2.0):
            agents = demo.parts.agents
            for box_id, alive in (agents.alive() if agents else {}).items():
                if not alive and box_id not in reported:
                    reported.add(box_id)
                    log.error("agent %s exited; see %s", box_id, demo.data_dir / "agents" / box_id)
    finally:
        echo("Stopping the demo...")
        demo.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("Demo stopped.")
