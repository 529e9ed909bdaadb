"""Start, watch and kill an agent link in a child process (tests.agent.link.agent_child)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def start_agent(
    state: Path, url: str, first: int, count: int, broker: dict[str, object] | None = None
) -> subprocess.Popen[str]:
    """A child agent emitting events `first`..`first+count-1`; stdout is a pipe of lines."""
    args = [sys.executable, "-m", "tests.agent.link.agent_child", str(state), url]
    args += [str(first), str(count)]
    if broker:
        args.append(json.dumps(broker))
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def read_until(process: subprocess.Popen[str], prefix: str) -> str:
    """The child's first line starting with `prefix` (the test's timeout bounds the wait)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"the agent exited (code {process.poll()}) before printing {prefix!r}")


def kill(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Send `sig` (SIGKILL by default) and reap the child; safe if it already ended."""
    if process.poll() is None:
        os.kill(process.pid, sig)
    if sig == signal.SIGKILL:
        reap(process)


def reap(process: subprocess.Popen[str]) -> None:
    """Make sure the child is gone (SIGKILL, even if stopped) and its pipe closed."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=5)
    if process.stdout:
        process.stdout.close()
