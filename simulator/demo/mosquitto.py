"""A local Mosquitto child process, for when the controller cannot use the embedded broker.

The embedded `amqtt` broker speaks MQTT 3.1.1 only; a controller that connects with MQTT 5
needs a broker that speaks it. When `mosquitto` is installed the demo starts one on a free
loopback port (anonymous, no persistence) and kills it by PID on stop.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["LocalMosquitto", "mosquitto_available"]

log = logging.getLogger(__name__)


def mosquitto_available() -> str | None:
    """The path of the mosquitto binary, if there is one."""
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalMosquitto:
    """`start()` returns once the port accepts connections; `stop()` kills it by PID."""

    def __init__(self, workdir: Path, binary: str) -> None:
        self.workdir = workdir
        self.binary = binary
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\nlog_type error\nlog_type warning\n"
        )
        log_file = (self.workdir / "mosquitto.log").open("ab")
        try:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(conf)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start; see {self.workdir}/mosquitto.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                log.info("mosquitto listening on %s (pid %s)", self.url, self.pid)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout:g} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
