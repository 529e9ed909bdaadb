"""A real Mosquitto broker as a child process, with its own config, stoppable mid-test."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from protocol.topics import acl_patterns
from tests.harness.pki import CertPair, TestPki
from tests.harness.ports import free_port, wait_for_port

__all__ = ["BrokerAuth", "MosquittoBroker", "mosquitto_binary"]


def mosquitto_binary() -> str:
    """Path of the mosquitto executable (Debian puts it in /usr/sbin)."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if not found:
        raise RuntimeError("mosquitto is not installed; run `make system-deps`")
    return found


@dataclass
class BrokerAuth:
    """Secure variant: TLS, passwords and the per-box ACL the protocol defines."""

    users: dict[str, str] = field(default_factory=dict)  # username -> password
    superusers: set[str] = field(default_factory=set)  # may read/write everything (controller)
    tls: bool = True


class MosquittoBroker:
    """One broker on a free 127.0.0.1 port; `stop()`/`start()` keep port and persistence."""

    def __init__(self, workdir: Path, auth: BrokerAuth | None = None) -> None:
        self.workdir = workdir
        self.auth = auth
        self.port = free_port()
        self.host = "127.0.0.1"
        self.pki: TestPki | None = None
        self.server_cert: CertPair | None = None
        self._process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_file = workdir / "mosquitto.log"
        self.conf_file = workdir / "mosquitto.conf"
        self._write_config()

    @property
    def url(self) -> str:
        """The broker URL as schoolcam components take it."""
        scheme = "mqtts" if self.auth and self.auth.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """PID of the running broker (to freeze it with SIGSTOP, say); error if stopped."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the broker is not running")
        return int(self._process.pid)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to `mosquitto` and cannot write workdir
        if self.auth is None:
            lines.append("allow_anonymous true")
        else:
            lines.append("allow_anonymous false")
            passwd = self.workdir / "passwd"
            passwd.write_text("")
            for user, password in self.auth.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {passwd}")
            acl = self.workdir / "acl"
            acl_lines = []
            for user in sorted(self.auth.superusers):
                acl_lines += [f"user {user}", "topic readwrite #", ""]
            acl_lines += [f"pattern {access} {pattern}" for access, pattern in acl_patterns()]
            acl.write_text("\n".join(acl_lines) + "\n")
            lines.append(f"acl_file {acl}")
            if self.auth.tls:
                self.pki = TestPki(self.workdir / "pki")
                self.server_cert = self.pki.issue("localhost", server=True)
                lines += [
                    f"cafile {self.pki.ca_file}",
                    f"certfile {self.server_cert.cert}",
                    f"keyfile {self.server_cert.key}",
                    "require_certificate false",
                ]
        self.conf_file.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart) the broker and wait until its port answers."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.conf_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port, timeout=timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {self.log_file.read_text()}") from None

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); clients see the connection drop."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()

    def kill(self) -> None:
        """Kill the broker without a clean shutdown (no persistence flush)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
            if self._process.stderr:
                self._process.stderr.close()
            self._process = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
