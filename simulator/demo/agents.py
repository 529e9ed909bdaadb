"""The demo's real agents: one `schoolcam-agent run` child process per box, on simulated cameras.

Each agent gets its own directory under the demo's data dir (agent.yaml, storage, agent.log).
Children run in their own session, so a Ctrl-C in the terminal reaches the demo only and the
demo stops them in order (SIGTERM, then SIGKILL by PID). Their PIDs are written to a file, so
a demo that was killed outright has its orphans cleaned up on the next start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from protocol import redact_url

__all__ = ["AgentPlan", "AgentProcesses", "agent_config"]

log = logging.getLogger(__name__)

PIDS_FILE = "agent-pids.json"
AGENT_COMMAND = (sys.executable, "-c", "from agent.cli import main; main()")


@dataclass(frozen=True)
class AgentPlan:
    """One real box: which school, which cameras (slot -> (name, main URL, sub URL))."""

    box_id: str
    school: str
    cameras: dict[int, tuple[str, str, str]]


def agent_config(
    plan: AgentPlan, workdir: Path, broker_url: str, protocol: str, keepalive_s: int = 10
) -> dict[str, Any]:
    """The agent.yaml document for one demo box: short segments, quick picture checks."""
    return {
        "box_id": plan.box_id,
        "school": plan.school,
        "storage": {
            "path": str(workdir / "storage"),
            "retention_days": 1,
            "segment_seconds": 10,
            "min_free_percent": 5,
            "emergency_free_percent": 2,
        },
        "broker": {"url": broker_url, "protocol": protocol, "keepalive_s": keepalive_s},
        "cameras": [
            {"slot": slot, "name": name, "url": url, "sub_url": sub}
            for slot, (name, url, sub) in sorted(plan.cameras.items())
        ],
        "quality": {"sample_interval_s": 2, "consecutive_hits": 2, "consecutive_clears": 2},
        "reporting": {"status_heartbeat_s": 30, "telemetry_interval_s": 15},
        "log_level": "INFO",
    }


class AgentProcesses:
    """Starts and stops the demo's agents; `alive()` says which still run."""

    def __init__(
        self, data_dir: Path, broker_url: str, protocol: str, *, keepalive_s: int = 10
    ) -> None:
        self.data_dir = data_dir
        self.broker_url = broker_url
        self.protocol = protocol
        self.keepalive_s = keepalive_s
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, plans: list[AgentPlan]) -> None:
        kill_orphans(self.data_dir)
        for plan in plans:
            workdir = self.data_dir / "agents" / plan.box_id
            workdir.mkdir(parents=True, exist_ok=True)
            config = workdir / "agent.yaml"
            document = agent_config(plan, workdir, self.broker_url, self.protocol, self.keepalive_s)
            config.write_text(yaml.safe_dump(document, sort_keys=False))
            with (workdir / "agent.log").open("ab") as log_file:
                process = subprocess.Popen(
                    [*AGENT_COMMAND, "run", "--config", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes[plan.box_id] = process
            log.info(
                "agent %s started (pid %d) with %s",
                plan.box_id,
                process.pid,
                ", ".join(redact_url(url) for _n, url, _s in plan.cameras.values()),
            )
        self._write_pids()

    def alive(self) -> dict[str, bool]:
        return {box_id: p.poll() is None for box_id, p in self.processes.items()}

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM every agent (they publish offline and close segments), then SIGKILL."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for box_id, process in self.processes.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("agent %s ignored SIGTERM; killing pid %d", box_id, process.pid)
                process.kill()
                process.wait()
        self.processes.clear()
        (self.data_dir / PIDS_FILE).unlink(missing_ok=True)

    def _write_pids(self) -> None:
        pids = {box_id: p.pid for box_id, p in self.processes.items()}
        (self.data_dir / PIDS_FILE).write_text(json.dumps(pids))


def kill_orphans(data_dir: Path) -> None:
    """Kill agents a previous demo left behind (it was killed before it could stop them)."""
    path = data_dir / PIDS_FILE
    try:
        pids: dict[str, int] = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for box_id, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if any(str(data_dir / "agents" / box_id) in part for part in process.cmdline()):
                log.warning("killing agent %s (pid %d) left by an earlier demo", box_id, pid)
                os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
