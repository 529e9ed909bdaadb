"""RTSP test cameras: GStreamer's RTSP server looping pre-encoded H.264 and H.265 clips.

Runs under Debian's ``/usr/bin/python3``, the interpreter that has the GObject bindings, so
it imports only the standard library and ``gi``; ``simulator.cameras`` starts it as a child
process. Each camera ``N`` has two mounts, ``/camN`` (main) and ``/camN/sub``.

Every mount is a shared media whose ``appsrc`` is fed by one pacer thread with access units
that were read once at start: nothing is encoded here, so sixteen cameras cost little CPU.
Buffers carry pts = dts on a 40 ms grid anchored to the pipeline's running time, as a live
camera's would. A fault only changes what the feeder reads:

* ``black``, ``frozen``, ``blur``, ``cover``: another clip, from the next keyframe on;
  connected clients stay connected.
* ``lowres`` (and clearing it): the main stream's clients are disconnected, as a camera
  restarts its stream when its resolution changes, so they reconnect and learn the new size
  from the SDP; the sub stream is untouched.
* ``stall``: nothing more is pushed; the RTSP session and its TCP connection stay up.
* ``gone``: the mounts are removed (new requests get 404), connected clients are
  disconnected and their sessions dropped, until the fault is cleared.
* ``nokey``: the clean clip without its keyframes: every IDR is skipped, so clients get
  only P-frames (a client that connects meanwhile gets one keyframe, then P-frames).

A camera sends H.264 unless ``--hevc`` names it, and needs no login unless the
``SCHOOLCAM_SIM_AUTH`` environment variable (JSON ``{"<cam>": ["user", "password"]}``; the
environment, so no password shows in a process list) gives it credentials: RTSP basic
authentication then guards both its mounts, and a wrong or missing login gets 401.

A line-based control channel on 127.0.0.1 takes ``fault <cam> <fault>``, ``status``,
``quit`` (ends that control connection) and ``shutdown`` (stops the server). The process
prints ``READY rtsp=<port> control=<port>`` on stdout once both ports are listening, and
exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

logger = logging.getLogger("schoolcam.rtsp_server")

FAULTS = ("none", "gone", "stall", "black", "frozen", "blur", "cover", "lowres", "nokey")
CODECS = ("h264", "hevc")
STREAMS = ("main", "sub")
FRAME_NS = Gst.SECOND // 25
CONTROL_HOST = "127.0.0.1"
MAX_COMMAND_BYTES = 256

# The clips carry SPS/PPS before every IDR, so the payloader need not insert them
# (config-interval=0). When it does, it can repeat a stale PPS after a clip switch that
# changes only the PPS (seen with GStreamer 1.22), and decoders then show garbage.
# The H.265 clips likewise carry VPS/SPS/PPS before every IDR.
LAUNCH_TEMPLATE = (
    "( appsrc name=src is-live=true format=time do-timestamp=false max-bytes=8000000"
    " leaky-type=downstream"
    " caps=video/x-{codec},stream-format=byte-stream,alignment=au,framerate=25/1"
    " ! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=0 )"
)
LAUNCH = {
    "h264": LAUNCH_TEMPLATE.format(codec="h264"),
    "hevc": LAUNCH_TEMPLATE.format(codec="h265"),
}
AUTH_ENV = "SCHOOLCAM_SIM_AUTH"
FACTORY_CHECKS = (
    GstRtspServer.RTSP_AUTH_CHECK_MEDIA_FACTORY_ACCESS,
    GstRtspServer.RTSP_AUTH_CHECK_MEDIA_FACTORY_CONSTRUCT,
)
MOUNT_PATTERN = re.compile(r"^/cam(\d+)(/sub)?(?:/|$)")

T = TypeVar("T")


# --- clips -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """One looped clip, split into access units once so the feeder only hands them out."""

    name: str
    units: tuple[GLib.Bytes, ...]
    keyframes: tuple[bool, ...]

    def next_keyframe(self, position: int) -> int:
        """The first keyframe at or after ``position`` (wrapping), where a join is clean."""
        count = len(self.units)
        for step in range(count):
            index = (position + step) % count
            if self.keyframes[index]:
                return index
        raise ValueError(f"clip {self.name} has no keyframe")


def split_access_units(data: bytes, codec: str = "h264") -> list[tuple[bytes, bool]]:
    """Split an Annex-B byte stream into (access unit, is keyframe) pairs.

    A new access unit starts at a parameter set, AUD or (prefix) SEI after a slice, or at
    the first slice of a picture after a slice (ITU-T H.264 7.4.1.2.3 and H.265 7.4.2.4.4,
    simplified for our clips).
    """
    nal_kind = _h264_nal if codec == "h264" else _hevc_nal
    units: list[tuple[bytes, bool]] = []
    unit_start = 0
    seen_slice = False
    keyframe = False
    for nal_start, payload in _nal_starts(data):
        is_slice, is_key, first_slice, opens_unit = nal_kind(data, payload)
        if seen_slice and (opens_unit or first_slice):
            units.append((data[unit_start:nal_start], keyframe))
            unit_start, seen_slice, keyframe = nal_start, False, False
        if is_slice:
            seen_slice = True
            keyframe = keyframe or is_key
    if seen_slice:
        units.append((data[unit_start:], keyframe))
    return units


NalKind = tuple[bool, bool, bool, bool]
"""(is a slice, is a keyframe slice, is a picture's first slice, opens an access unit)."""


def _h264_nal(data: bytes, payload: int) -> NalKind:
    nal_type = data[payload] & 0x1F
    is_slice = nal_type in (1, 5)
    first = is_slice and payload + 1 < len(data) and bool(data[payload + 1] & 0x80)
    return is_slice, nal_type == 5, first, nal_type in (6, 7, 8, 9)


def _hevc_nal(data: bytes, payload: int) -> NalKind:
    nal_type = (data[payload] >> 1) & 0x3F
    is_slice = nal_type <= 31
    # first_slice_segment_in_pic_flag follows the two-byte NAL header
    first = is_slice and payload + 2 < len(data) and bool(data[payload + 2] & 0x80)
    opens = nal_type in (32, 33, 34, 35, 39) or 41 <= nal_type <= 44 or 48 <= nal_type <= 55
    return is_slice, 16 <= nal_type <= 23, first, opens


def _nal_starts(data: bytes) -> list[tuple[int, int]]:
    """(start code offset, NAL header offset) for every NAL unit in ``data``."""
    found = []
    index = data.find(b"\x00\x00\x01")
    while index >= 0:
        start = index - 1 if index > 0 and data[index - 1] == 0 else index
        found.append((start, index + 3))
        index = data.find(b"\x00\x00\x01", index + 3)
    return found


def load_clip(path: Path, codec: str = "h264") -> Clip:
    units = split_access_units(path.read_bytes(), codec)
    if not units or not units[0][1]:
        raise ValueError(f"{path} does not start with a keyframe")
    return Clip(
        name=path.stem,
        units=tuple(GLib.Bytes.new(unit) for unit, _ in units),
        keyframes=tuple(key for _, key in units),
    )


class Library:
    """Every clip by codec, stream and picture, and which one a fault shows.

    Only the codecs some camera sends are loaded; a manifest from before H.265 came (no
    ``codecs``) serves H.264 only.
    """

    def __init__(self, manifest: Path, codecs: set[str] | None = None) -> None:
        document = json.loads(manifest.read_text())
        by_codec = document.get("codecs") or {"h264": document["streams"]}
        self._clips: dict[str, dict[str, dict[str, Clip]]] = {}
        for codec in codecs if codecs is not None else {"h264"}:
            if codec not in by_codec:
                raise ValueError(f"{manifest}: no {codec} clips (make them again)")
            self._clips[codec] = {}
            for stream in STREAMS:
                files = by_codec[codec][stream]
                clips = {
                    picture: load_clip(manifest.parent / name, codec)
                    for picture, name in files.items()
                }
                if "clean" not in clips:
                    raise ValueError(f"{manifest}: no clean {codec} clip for the {stream} stream")
                self._clips[codec][stream] = clips

    def clip(self, stream: str, fault: str, codec: str = "h264") -> Clip:
        clips = self._clips[codec][stream]
        return clips.get(fault, clips["clean"])


# --- cameras and feeders -----------------------------------------------------------------


@dataclass(eq=False)
class Camera:
    """One simulated camera: its fault and what is attached to it right now."""

    number: int
    fault: str = "none"
    codec: str = "h264"
    login: tuple[str, str] | None = None  # (user, password) when the camera requires one
    # Per stream ("main", "sub"): GstRtspServer.RTSPClient and GstRtspServer.RTSPMedia.
    clients: dict[str, set[Any]] = field(default_factory=lambda: {s: set() for s in STREAMS})
    medias: dict[str, set[Any]] = field(default_factory=lambda: {s: set() for s in STREAMS})
    units_sent: int = 0
    started: float = field(default_factory=time.monotonic)

    def live_position(self, clip: Clip) -> int:
        """Where in its loop the camera's picture is now: a live camera shows a new viewer
        the scene of the moment, not the start of its loop."""
        return int((time.monotonic() - self.started) * Gst.SECOND / FRAME_NS) % len(clip.units)

    def paths(self) -> tuple[str, str]:
        return f"/cam{self.number}", f"/cam{self.number}/sub"


class Feeder:
    """Feeds one prepared media's appsrc at real-time pace from the camera's current clip."""

    def __init__(self, camera: Camera, stream: str, appsrc: Any, library: Library) -> None:
        self.camera = camera
        self.stream = stream
        self._appsrc = appsrc
        self._library = library
        self._clip = library.clip(stream, camera.fault, camera.codec)
        self._position = self._clip.next_keyframe(camera.live_position(self._clip))
        self._next_pts: int | None = None
        self._primed = False

    def tick(self) -> None:
        """Push every access unit that is due by the next tick; nothing while stalled/gone."""
        running = self._appsrc.get_current_running_time()
        if running == Gst.CLOCK_TIME_NONE:
            return  # not playing yet: the first unit must wait for the clock
        if self.camera.fault in ("stall", "gone"):
            if not self._primed:
                # A media cannot finish preparing without one buffer (the SDP needs the
                # caps), so a client that connects to a stalled camera gets its session and
                # one keyframe, then nothing.
                self._push(running)
            if self._next_pts is not None:
                # Resume later on a keyframe, at the then running time.
                self._next_pts = None
                self._position = self._clip.next_keyframe(self._position)
            return
        if self._next_pts is None or running - self._next_pts > Gst.SECOND:
            self._next_pts = running  # first push, or we fell far behind: re-anchor
        while self._next_pts <= running + FRAME_NS:
            self._push(self._next_pts)
            self._next_pts += FRAME_NS

    def _push(self, pts: int) -> None:
        wanted = self._library.clip(self.stream, self.camera.fault, self.camera.codec)
        if wanted is not self._clip:
            position = self._position % len(wanted.units)
            if wanted.keyframes[position]:
                self._clip, self._position = wanted, position
        if self._primed and self.camera.fault == "nokey":
            while self._clip.keyframes[self._position]:
                self._position = (self._position + 1) % len(self._clip.units)
        unit = self._clip.units[self._position]
        buffer = Gst.Buffer.new_wrapped_bytes(unit)
        buffer.pts = pts
        buffer.dts = pts
        buffer.duration = FRAME_NS
        if not self._clip.keyframes[self._position]:
            buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
        self._appsrc.emit("push-buffer", buffer)
        self._primed = True
        self._position = (self._position + 1) % len(self._clip.units)
        self.camera.units_sent += 1


class Pacer:
    """One thread that ticks every feeder once per frame interval."""

    def __init__(self) -> None:
        self._feeders: set[Feeder] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pacer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def add(self, feeder: Feeder) -> None:
        with self._lock:
            self._feeders.add(feeder)

    def remove(self, feeder: Feeder) -> None:
        with self._lock:
            self._feeders.discard(feeder)

    def _run(self) -> None:
        period = FRAME_NS / Gst.SECOND
        deadline = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                feeders = list(self._feeders)
            for feeder in feeders:
                try:
                    feeder.tick()
                except Exception:
                    logger.exception(
                        "feeder failed: camera %s %s", feeder.camera.number, feeder.stream
                    )
            deadline += period
            delay = deadline - time.monotonic()
            if delay < -period:
                deadline = time.monotonic()  # we were descheduled: do not try to catch up
            self._stop.wait(max(delay, 0))


# --- the RTSP server ---------------------------------------------------------------------


class CameraAuth(GstRtspServer.RTSPAuth):
    """GStreamer's basic authentication for the cameras with a login; the others are open.

    The stock checks admit a client to a factory by the role its login gives it, and
    answer 401 with a challenge when it has none (clients send their credentials only after
    that challenge). Cameras without a login skip the factory checks, so they need no role.
    """

    def __init__(self, guarded: list[Any]) -> None:
        super().__init__()
        self._guarded = guarded

    def do_check(self, ctx: Any, check: str) -> bool:
        if check in FACTORY_CHECKS and not any(ctx.factory is f for f in self._guarded):
            return True
        allowed: bool = GstRtspServer.RTSPAuth.do_check(self, ctx, check)
        return allowed


class CameraServer:
    """The RTSP server, its mounts and the faults; every method runs on the GLib main loop."""

    def __init__(
        self,
        count: int,
        host: str,
        port: int,
        library: Library,
        *,
        hevc: frozenset[int] = frozenset(),
        logins: dict[int, tuple[str, str]] | None = None,
    ) -> None:
        logins = logins or {}
        self.cameras = {
            number: Camera(
                number, codec="hevc" if number in hevc else "h264", login=logins.get(number)
            )
            for number in range(1, count + 1)
        }
        self._library = library
        self._pacer = Pacer()
        self._server = GstRtspServer.RTSPServer()
        self._server.set_address(host)
        self._server.set_service(str(port))
        self._server.connect("client-connected", self._on_client_connected)
        self._mounts = self._server.get_mount_points()
        self._factories: dict[str, Any] = {}
        for camera in self.cameras.values():
            for path, stream in zip(camera.paths(), STREAMS, strict=True):
                factory = GstRtspServer.RTSPMediaFactory()
                factory.set_launch(LAUNCH[camera.codec])
                factory.set_shared(True)
                factory.connect("media-configure", self._on_media_configure, camera, stream)
                self._factories[path] = factory
                self._mounts.add_factory(path, factory)
        if logins:
            self._require_logins()
        self.host = host
        self.port = 0

    def _require_logins(self) -> None:
        """Basic authentication: each camera with a login admits only its own user (role
        ``camN``); the others admit anyone."""
        guarded: list[Any] = []
        auth = CameraAuth(guarded)
        for camera in self.cameras.values():
            if camera.login is None:
                continue
            role = f"cam{camera.number}"
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", role)
            permissions = Gst.Structure.new_from_string(
                f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
            for path in camera.paths():
                self._factories[path].add_role_from_structure(permissions)
                guarded.append(self._factories[path])
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(*camera.login), token)
        self._server.set_auth(auth)

    def start(self) -> None:
        if self._server.attach(None) == 0:
            raise OSError(
                f"cannot listen for RTSP on {self._server.get_address()}:"
                f"{self._server.get_service()} (is the port in use?)"
            )
        self.port = self._server.get_bound_port()
        self._pacer.start()

    def stop(self) -> None:
        self._pacer.stop()
        self._server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)

    def set_fault(self, number: int, fault: str) -> None:
        camera = self.cameras[number]
        previous, camera.fault = camera.fault, fault
        if fault == "gone" and previous != "gone":
            for path in camera.paths():
                self._mounts.remove_factory(path)  # new requests get 404
            self._disconnect(camera, STREAMS)
        elif previous == "gone" and fault != "gone":
            for path in camera.paths():
                self._mounts.add_factory(path, self._factories[path])
        elif (fault == "lowres") != (previous == "lowres"):
            self._disconnect(camera, ("main",))
        logger.info("camera %d: fault %s -> %s", number, previous, fault)

    def status(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "rtsp_port": self.port,
            "count": len(self.cameras),
            "faults": list(FAULTS),
            "cameras": [
                {
                    "camera": camera.number,
                    "fault": camera.fault,
                    "codec": camera.codec,
                    "login": camera.login is not None,
                    "clients": sum(len(clients) for clients in camera.clients.values()),
                    "medias": sum(len(medias) for medias in camera.medias.values()),
                    "units_sent": camera.units_sent,
                }
                for camera in self.cameras.values()
            ],
        }

    def _disconnect(self, camera: Camera, streams: tuple[str, ...]) -> None:
        """Close the clients of these streams and drop the sessions still open on them
        (UDP ones outlive their RTSP connection), so the shared media is released."""
        for stream in streams:
            for client in list(camera.clients[stream]):
                client.close()
        medias = set().union(*(camera.medias[stream] for stream in streams))

        def uses_camera(_pool: Any, session: Any) -> Any:
            if any(media.get_media() in medias for media in session.filter(None)):
                return GstRtspServer.RTSPFilterResult.REMOVE
            return GstRtspServer.RTSPFilterResult.KEEP

        self._server.get_session_pool().filter(uses_camera)

    def _on_client_connected(self, _server: Any, client: Any) -> None:
        client.connect("describe-request", self._on_request)
        client.connect("setup-request", self._on_request)
        client.connect("closed", self._on_client_closed)

    def _on_request(self, client: Any, context: Any) -> None:
        match = MOUNT_PATTERN.match(context.uri.abspath or "")
        camera = self.cameras.get(int(match.group(1))) if match else None
        if camera is not None:
            camera.clients["sub" if match and match.group(2) else "main"].add(client)

    def _on_client_closed(self, client: Any) -> None:
        for camera in self.cameras.values():
            for clients in camera.clients.values():
                clients.discard(client)

    def _on_media_configure(self, _factory: Any, media: Any, camera: Camera, stream: str) -> None:
        appsrc = media.get_element().get_by_name("src")
        feeder = Feeder(camera, stream, appsrc, self._library)
        camera.medias[stream].add(media)
        self._pacer.add(feeder)

        def on_unprepared(_media: Any) -> None:
            self._pacer.remove(feeder)
            camera.medias[stream].discard(media)
            logger.info("camera %d %s: media released", camera.number, stream)

        media.connect("unprepared", on_unprepared)
        logger.info("camera %d %s: media prepared", camera.number, stream)


# --- control channel ---------------------------------------------------------------------


def call_on_main_loop(function: Callable[[], T], timeout: float = 5.0) -> T:
    """Run ``function`` on the GLib main loop (GStreamer's RTSP objects live there)."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> bool:
        try:
            outcome["value"] = function()
        except Exception as error:
            outcome["error"] = error
        done.set()
        return GLib.SOURCE_REMOVE

    GLib.idle_add(run)
    if not done.wait(timeout):
        raise TimeoutError("the main loop did not answer")
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


class Controller:
    """Parses control lines and answers them: ``ok``, ``error <reason>`` or one JSON line."""

    def __init__(self, server: CameraServer, shutdown: Callable[[], bool]) -> None:
        self._server = server
        self._shutdown = shutdown

    def execute(self, line: str) -> str:
        words = line.split()
        if not words:
            return "error empty command"
        command, arguments = words[0].lower(), words[1:]
        if command == "fault":
            return self._fault(arguments)
        if command == "status" and not arguments:
            return json.dumps(call_on_main_loop(self._server.status), separators=(",", ":"))
        if command == "shutdown" and not arguments:
            GLib.idle_add(self._shutdown)
            return "ok"
        if command == "help":
            faults = ", ".join(FAULTS)
            return f"ok commands: fault <cam> <fault>, status, quit, shutdown; faults: {faults}"
        return f"error unknown command {command!r} (try help)"

    def _fault(self, arguments: list[str]) -> str:
        if len(arguments) != 2:
            return "error usage: fault <cam> <fault>"
        camera, fault = arguments
        count = len(self._server.cameras)
        if not camera.isdigit() or int(camera) not in self._server.cameras:
            return f"error no camera {camera!r}: cameras are 1..{count}"
        if fault not in FAULTS:
            return f"error unknown fault {fault!r}: faults are {', '.join(FAULTS)}"
        call_on_main_loop(lambda: self._server.set_fault(int(camera), fault))
        return "ok"


class _ControlHandler(socketserver.StreamRequestHandler):
    server: _ControlServer

    def handle(self) -> None:
        while True:
            raw = self.rfile.readline(MAX_COMMAND_BYTES)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").strip()
            if line.lower() == "quit":
                self._reply("ok")
                return
            try:
                answer = self.server.controller.execute(line)
            except Exception as error:
                logger.exception("control command failed: %s", line)
                answer = f"error {error}"
            self._reply(answer)

    def _reply(self, answer: str) -> None:
        self.wfile.write(answer.encode() + b"\n")
        self.wfile.flush()


class _ControlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, controller: Controller) -> None:
        super().__init__((CONTROL_HOST, port), _ControlHandler)
        self.controller = controller


# --- process -----------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="clip manifest (JSON)")
    parser.add_argument("--count", type=int, default=4, help="number of cameras")
    parser.add_argument("--host", default="127.0.0.1", help="address the RTSP server binds")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port, 0 = pick one")
    parser.add_argument("--control-port", type=int, default=0, help="control port, 0 = pick one")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin closes, so the server never outlives the process that started it",
    )
    parser.add_argument(
        "--hevc", default="", help="cameras that send H.265, comma-separated (e.g. 2,5)"
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    try:
        args.hevc = frozenset(int(word) for word in args.hevc.split(",") if word.strip())
    except ValueError:
        parser.error(f"--hevc takes camera numbers, not {args.hevc!r}")
    if not args.hevc <= set(range(1, args.count + 1)):
        parser.error(f"--hevc names cameras outside 1..{args.count}")
    return args


def read_logins(environ: dict[str, str] | os._Environ[str]) -> dict[int, tuple[str, str]]:
    """The cameras' logins from ``SCHOOLCAM_SIM_AUTH``; ValueError (without the password)
    when the variable is not JSON of the form ``{"<cam>": ["user", "password"]}``."""
    raw = environ.get(AUTH_ENV)
    if not raw:
        return {}
    try:
        document = json.loads(raw)
        logins = {int(cam): (str(login[0]), str(login[1])) for cam, login in document.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ValueError(f'{AUTH_ENV} must be JSON {{"<cam>": ["user", "password"]}}') from None
    return logins


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s rtsp_server: %(message)s"
    )
    Gst.init(None)
    try:
        logins = read_logins(os.environ)
    except ValueError as error:
        logger.error("%s", error)
        return 2
    unknown = sorted(set(logins) - set(range(1, args.count + 1)))
    if unknown:
        logger.error("%s names cameras outside 1..%d: %s", AUTH_ENV, args.count, unknown)
        return 2
    library = Library(args.manifest, {"h264"} | ({"hevc"} if args.hevc else set()))
    loop = GLib.MainLoop()
    server = CameraServer(args.count, args.host, args.port, library, hevc=args.hevc, logins=logins)

    def shutdown() -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    try:
        control = _ControlServer(args.control_port, Controller(server, shutdown))
    except OSError as error:
        logger.error(
            "cannot listen for control on %s:%d: %s", CONTROL_HOST, args.control_port, error
        )
        return 2
    try:
        server.start()
    except OSError as error:
        logger.error("%s", error)
        control.server_close()
        return 2
    threading.Thread(
        target=control.serve_forever, kwargs={"poll_interval": 0.1}, name="control", daemon=True
    ).start()
    for number in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, number, shutdown)
    if args.exit_on_stdin_eof:
        _exit_on_stdin_eof(shutdown)

    print(f"READY rtsp={server.port} control={control.server_address[1]}", flush=True)
    logger.info("serving %d cameras on rtsp://%s:%d/cam1..", args.count, args.host, server.port)
    try:
        loop.run()
    finally:
        control.shutdown()
        control.server_close()
        server.stop()
    logger.info("stopped")
    return 0


def _exit_on_stdin_eof(shutdown: Callable[[], bool]) -> None:
    """Stop when stdin reaches EOF: the parent that holds its other end has gone."""

    def on_stdin(fd: int, _condition: Any) -> bool:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if data:
            return GLib.SOURCE_CONTINUE
        logger.info("stdin closed: stopping")
        shutdown()
        return GLib.SOURCE_REMOVE

    GLib.unix_fd_add_full(
        GLib.PRIORITY_DEFAULT,
        sys.stdin.fileno(),
        GLib.IOCondition.IN | GLib.IOCondition.HUP,
        on_stdin,
    )


if __name__ == "__main__":
    sys.exit(main())
