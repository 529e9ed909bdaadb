"""`schoolcam-sim demo` end to end: a tiny district comes up, faults raise alarms, Ctrl-C is clean.

Runs the real command as a child process (1 agent with 2 simulated cameras, 5 simulated
schools, the fault timeline ten times faster), talks to its API over HTTP like a user would,
and checks that stopping it leaves no child process behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from simulator.demo.district import plan_district
from tests.harness.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.fault]

SCHOOLS = 5


class DemoProcess:
    """The demo command as a child process, with what it printed so far."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-c", "from simulator.cli import main; main()", "demo"]
        command += ["--data-dir", str(data_dir), "--port", str(port), "--agents", "1"]
        command += ["--cameras-per-agent", "2", "--schools", str(SCHOOLS)]
        command += ["--fault-scale", "0.1", "--fleet-fault-rate", "0"]
        self.log = data_dir.parent / "demo.out"
        with self.log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the demo
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if text in self.output:
                return
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from the demo; it printed:\n{self.output}")

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        for child in self.descendants():
            child.kill()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoProcess]:
    process = DemoProcess(tmp_path / "demo-data", free_port())
    try:
        yield process
    finally:
        process.kill()


def _login(client: httpx.Client, data_dir: Path) -> dict[str, str]:
    logins = json.loads((data_dir / "logins.json").read_text())["logins"]
    ops = next(entry for entry in logins if entry["role"] == "ops")
    answer = client.post(
        "/api/v1/auth/token", data={"username": ops["username"], "password": ops["password"]}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _poll(check: object, timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        assert callable(check)
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout:.0f} s; last answer: {last}")


@pytest.mark.timeout(150)
def test_demo_comes_up_raises_alarms_and_stops_cleanly(demo: DemoProcess) -> None:
    demo.wait_for_line("Ctrl-C stops everything", timeout=60)
    printed = demo.output
    assert demo.url in printed and f"{demo.url}/docs" in printed
    assert "safety-lead" in printed and "vendor-" in printed
    district = plan_district(1 + SCHOOLS, prefix="jh")
    simulated = {school.box_id for school in district[1:]}

    with httpx.Client(base_url=demo.url, timeout=10) as client:
        headers = _login(client, demo.data_dir)
        schools = client.get("/api/v1/schools", headers=headers).json()
        assert schools["total"] == 1 + SCHOOLS
        assert all(s["latitude"] and s["vendor"] for s in schools["items"])

        def summary() -> dict[str, int] | None:
            body: dict[str, int] = client.get("/api/v1/fleet/summary", headers=headers).json()
            return body if body["boxes_online"] == 1 + SCHOOLS else None

        _poll(summary, 30, f"the real box and {SCHOOLS} simulated boxes online")
        real_box = district[0].box_id

        def injected_alarms() -> dict[str, list[str]] | None:
            alarms = client.get("/api/v1/alarms", headers=headers).json()["items"]
            found = {
                "real camera dark": [
                    a["source"]
                    for a in alarms
                    if a["type"] == "camera_offline" and a["source"] == f"camera:{real_box}/1"
                ],
                "simulated uplink lost": [
                    a["source"]
                    for a in alarms
                    if a["type"] == "box_offline" and a["box_id"] in simulated
                ],
            }
            return found if all(found.values()) else None

        _poll(injected_alarms, 40, "alarms from the injected faults")

    children = demo.descendants()
    assert children, "the demo should have child processes (cameras, agent, broker)"
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(45) == 0
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    troubles = [
        line for line in demo.output.splitlines() if " ERROR " in line or "Traceback" in line
    ]
    assert troubles == [], "the demo logged errors:\n" + "\n".join(troubles)


# --- the parts, fast ------------------------------------------------------------------------


class RecordingTargets:
    """A test double for the demo's FaultTargets: records what the injector asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    def camera_count(self) -> int:
        return 2

    def set_camera_fault(self, number: int, fault: str) -> str:
        self.calls.append(("camera", number, fault))
        return f"box/{number}"

    def box_count(self) -> int:
        return 1

    def drop_uplink(self, number: int, duration_s: float) -> str:
        self.calls.append(("uplink", number, f"{duration_s:g}"))
        return f"sim-{number}"


@pytest.mark.timeout(20)
def test_fault_timeline_injects_clears_and_skips_what_is_missing() -> None:
    from simulator.demo.faults import FaultInjector, Injection

    now = [0.0]
    targets = RecordingTargets()
    timeline = [
        Injection(1, "camera", 1, "gone", 5, "dark"),
        Injection(2, "uplink", 1, "uplink", 9, "uplink"),
        Injection(3, "camera", 3, "blur", 5, "no such camera"),
        Injection(4, "uplink", 2, "uplink", 5, "no such box"),
    ]
    injector = FaultInjector(targets, timeline, period_s=100, clock=lambda: now[0], tick_s=0.01)
    injector.start()
    try:
        expected = {1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 3, 7: 3}  # history length after each second
        for second, count in expected.items():
            now[0] = float(second)
            time.sleep(0.05)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(injector.history) < count:
                time.sleep(0.01)
    finally:
        injector.stop()
    assert targets.calls == [("camera", 1, "gone"), ("uplink", 1, "9"), ("camera", 1, "none")]
    assert [(r.action, r.target) for r in injector.history] == [
        ("injected", "box/1"),
        ("injected", "sim-1"),
        ("cleared", "box/1"),
    ]


@pytest.mark.timeout(60)
def test_seed_builds_the_district_once_and_scopes_its_users(tmp_path: Path) -> None:
    from sqlmodel import Session

    from controller.auth.scope import Scope
    from controller.auth.service import authenticate
    from controller.core.db import make_engine
    from controller.devices.service import list_boxes
    from controller.migrations import upgrade
    from controller.schools.service import list_schools, list_slots
    from simulator.demo.seed import demo_logins, seed

    url = f"sqlite:///{tmp_path / 'seed.db'}"
    upgrade(url)
    engine = make_engine(url)
    schools = plan_district(12, prefix="jh")
    logins = demo_logins(schools)
    assert seed(engine, schools, logins) == {"schools": 12, "boxes": 12, "users": 4}
    assert seed(engine, schools, logins) == {}  # idempotent on a kept data dir
    with Session(engine) as session:
        everything = Scope.everything()
        found, total = list_schools(session=session, scope=everything, offset=0, limit=100)
        assert total == 12
        assert {s.type for s in found} >= {"primary", "middle", "kindergarten"}
        assert all(s.latitude and s.longitude and s.vendor and s.address for s in found)
        first_id = found[0].id
        assert first_id is not None
        assert len(list_slots(session=session, scope=everything, school_id=first_id)) == 16
        _boxes, box_total = list_boxes(session=session, scope=everything, offset=0, limit=100)
        assert box_total == 12
        vendor_login = next(login for login in logins if login.role == "vendor")
        user = authenticate(
            session=session, username=vendor_login.username, password=vendor_login.password
        )
        mine = Scope(role=user.role, vendor=user.vendor)
        _own, own_total = list_schools(session=session, scope=mine, offset=0, limit=100)
        assert 0 < own_total < 12
        assert own_total == sum(s.vendor == vendor_login.vendor for s in schools)
    engine.dispose()
