"""Simulated RTSP cameras for the demo, the agent's tests and the benchmarks.

``CameraSimulator`` makes (or finds) the clips, starts ``rtsp_server.py`` under the Python
that has GStreamer's bindings (``/usr/bin/python3``, or ``$SCHOOLCAM_GST_PYTHON``), waits for
its readiness line and then drives it over the control channel::

    with CameraSimulator(count=16) as cameras:
        url = cameras.url(3)  # rtsp://127.0.0.1:<port>/cam3
        cameras.set_fault(3, Fault.BLACK)

    # camera 2 sends H.265, camera 3 wants a login
    CameraSimulator(count=4, hevc={2}, logins={3: ("viewer", "secret")})

The server is a child process that exits when we stop it, and also when this process dies
(it watches its stdin), so a killed test run leaves no camera server behind.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Collection, Mapping
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote

from simulator.clips import ensure_clips

__all__ = [
    "SERVER_SCRIPT",
    "CameraSimulator",
    "CameraSimulatorError",
    "Fault",
    "free_port",
    "send_control",
]

logger = logging.getLogger(__name__)

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
DEFAULT_GST_PYTHON = "/usr/bin/python3"
CONTROL_HOST = "127.0.0.1"
AUTH_ENV = "SCHOOLCAM_SIM_AUTH"  # read by rtsp_server.py (which cannot import us)


class Fault(StrEnum):
    """What a simulated camera can be made to do wrong (``NONE`` clears the fault)."""

    NONE = "none"
    GONE = "gone"  # disconnects its clients and answers 404 until cleared
    STALL = "stall"  # the session stays up, no more media arrives
    BLACK = "black"  # signal loss
    FROZEN = "frozen"  # the same picture again and again
    BLUR = "blur"  # out of focus
    COVER = "cover"  # something dark over the lens
    LOWRES = "lowres"  # the main stream drops to 640x360
    NOKEY = "nokey"  # only P-frames: every keyframe is left out until cleared


class CameraSimulatorError(RuntimeError):
    """The camera server did not start, died, or refused a command."""


def free_port(host: str = CONTROL_HOST) -> int:
    """A port that was free a moment ago; prefer port 0 where the server can take it itself."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def send_control(port: int, command: str, *, host: str = CONTROL_HOST, timeout: float = 10) -> str:
    """Send one line to the camera server's control channel and return its one-line answer."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(command.strip().encode() + b"\n")
        with connection.makefile("rb") as replies:
            answer = replies.readline().decode("utf-8", "replace").strip()
    if not answer:
        raise CameraSimulatorError(f"no answer from the camera server to {command!r}")
    return answer


class CameraSimulator:
    """N RTSP cameras (``/camN`` and ``/camN/sub``) served by a GStreamer child process."""

    def __init__(
        self,
        count: int = 4,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int = 0,
        cache_dir: Path | None = None,
        manifest: Path | None = None,
        python: str | None = None,
        startup_timeout: float = 30.0,
        log_level: str = "WARNING",
        inherit_stderr: bool = False,
        hevc: Collection[int] = (),
        logins: Mapping[int, tuple[str, str]] | None = None,
    ) -> None:
        """``port``/``control_port`` 0 let the server pick free ports (no race with others).

        ``manifest`` serves clips made earlier instead of making them from ``cache_dir``;
        ``inherit_stderr`` shows the server's log on our stderr (the CLI) instead of
        keeping it for error messages (the tests). ``hevc`` names the cameras that send
        H.265 instead of H.264; ``logins`` gives cameras a (user, password) they require
        (RTSP basic authentication; the password reaches the server through its
        environment, never its command line).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        self.hevc = frozenset(hevc)
        self.logins = dict(logins or {})
        for cam in (*self.hevc, *self.logins):
            if isinstance(cam, bool) or not isinstance(cam, int) or not 1 <= cam <= count:
                raise ValueError(f"no camera {cam!r}: cameras are 1..{count}")
        self.count = count
        self.host = host
        self._port = port
        self._control_port = control_port
        self._cache_dir = cache_dir
        self._manifest = manifest
        self._python = python or os.environ.get("SCHOOLCAM_GST_PYTHON") or DEFAULT_GST_PYTHON
        self._startup_timeout = startup_timeout
        self._log_level = log_level
        self._inherit_stderr = inherit_stderr
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._rtsp_port: int | None = None
        self._bound_control_port: int | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and return once it accepts RTSP connections."""
        if self._process is not None:
            raise CameraSimulatorError("camera simulator already started")
        manifest = self._manifest or ensure_clips(self._cache_dir)
        command = [
            self._python,
            str(SERVER_SCRIPT),
            "--manifest",
            str(manifest),
            "--count",
            str(self.count),
            "--host",
            self.host,
            "--port",
            str(self._port),
            "--control-port",
            str(self._control_port),
            "--log-level",
            self._log_level,
            "--exit-on-stdin-eof",
        ]
        if self.hevc:
            command += ["--hevc", ",".join(str(cam) for cam in sorted(self.hevc))]
        environment = None
        if self.logins:
            logins = {str(cam): list(login) for cam, login in self.logins.items()}
            environment = {**os.environ, AUTH_ENV: json.dumps(logins)}
        # Kept open while the server runs, so its last words can go into our errors.
        self._stderr = None if self._inherit_stderr else tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=environment,
                # Its own session: a Ctrl-C reaches us, and we stop the server in order.
                start_new_session=True,
            )
        except OSError as error:
            self._close_files()
            raise CameraSimulatorError(f"cannot start {self._python}: {error}") from error
        try:
            self._rtsp_port, self._bound_control_port = self._await_ready()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "camera simulator ready",
            extra={"cameras": self.count, "rtsp_port": self._rtsp_port, "pid": self.pid},
        )
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Ask the server to stop (SIGTERM), kill it after ``grace`` seconds, always reap it."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    logger.warning(
                        "camera server ignored SIGTERM, killing it", extra={"pid": process.pid}
                    )
                    process.kill()
                    process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        self._close_files()
        self._rtsp_port = None
        self._bound_control_port = None

    def __enter__(self) -> Self:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- where and what ------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def rtsp_port(self) -> int:
        if self._rtsp_port is None:
            raise CameraSimulatorError("camera simulator not started")
        return self._rtsp_port

    @property
    def control_port(self) -> int:
        if self._bound_control_port is None:
            raise CameraSimulatorError("camera simulator not started")
        return self._bound_control_port

    def url(self, cam: int, sub: bool = False) -> str:
        """``rtsp://host:port/camN`` (main, 1080p) or ``.../camN/sub`` (640x360)."""
        self._check_camera(cam)
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"rtsp://{host}:{self.rtsp_port}/cam{cam}{'/sub' if sub else ''}"

    def login_url(self, cam: int, user: str, password: str, sub: bool = False) -> str:
        """``url(cam)`` with a login in it (any login: a test may want a wrong one)."""
        plain = self.url(cam, sub)
        userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return plain.replace("rtsp://", f"rtsp://{userinfo}@", 1)

    def urls(self, sub: bool = False) -> list[str]:
        return [self.url(cam, sub) for cam in range(1, self.count + 1)]

    # --- control -------------------------------------------------------------------------

    def set_fault(self, cam: int, fault: Fault | str) -> None:
        """Switch camera ``cam`` to ``fault`` while it keeps serving; ``"none"`` clears it."""
        self._check_camera(cam)
        try:
            chosen = Fault(fault)
        except ValueError:
            known = ", ".join(item.value for item in Fault)
            raise ValueError(f"unknown fault {fault!r}: faults are {known}") from None
        answer = self._command(f"fault {cam} {chosen.value}")
        if answer != "ok":
            raise CameraSimulatorError(
                f"camera server refused fault {chosen} on camera {cam}: {answer}"
            )

    def status(self) -> dict[str, Any]:
        """The server's view: per camera its fault, connected clients and units sent."""
        answer = self._command("status")
        try:
            document: dict[str, Any] = json.loads(answer)
        except json.JSONDecodeError as error:
            raise CameraSimulatorError(f"camera server status is not JSON: {answer}") from error
        return document

    def _command(self, line: str) -> str:
        if not self.running:
            raise CameraSimulatorError(f"camera server is not running{self._exit_detail()}")
        return send_control(self.control_port, line)

    def _check_camera(self, cam: int) -> None:
        if isinstance(cam, bool) or not isinstance(cam, int) or not 1 <= cam <= self.count:
            raise ValueError(f"no camera {cam!r}: cameras are 1..{self.count}")

    # --- startup -------------------------------------------------------------------------

    def _await_ready(self) -> tuple[int, int]:
        """Read the server's ``READY rtsp=<port> control=<port>`` line, or explain why not."""
        process = self._process
        assert process is not None and process.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CameraSimulatorError(
                        f"camera server not ready after {self._startup_timeout:g} s"
                        f"{self._stderr_detail()}"
                    )
                if selector.select(timeout=min(remaining, 0.5)):
                    line = process.stdout.readline().decode("utf-8", "replace").strip()
                    if not line:
                        process.wait(timeout=5)
                        raise CameraSimulatorError(
                            f"camera server exited before it was ready{self._exit_detail()}"
                        )
                    if line.startswith("READY"):
                        return _parse_ready(line)
                    logger.debug("camera server said %s", line)

    def _exit_detail(self) -> str:
        code = self._process.poll() if self._process is not None else None
        detail = f" (exit code {code})" if code is not None else ""
        return detail + self._stderr_detail()

    def _stderr_detail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return f"; its stderr:\n{text[-4000:]}" if text else "; it wrote nothing on stderr"

    def _close_files(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _parse_ready(line: str) -> tuple[int, int]:
    fields = dict(word.split("=", 1) for word in line.split()[1:] if "=" in word)
    try:
        return int(fields["rtsp"]), int(fields["control"])
    except (KeyError, ValueError) as error:
        raise CameraSimulatorError(
            f"unexpected readiness line from the camera server: {line!r}"
        ) from error
