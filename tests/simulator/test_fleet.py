"""The fleet simulator against a real Mosquitto: exact protocol out, real answers back."""

from __future__ import annotations

import base64
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from protocol import (
    Birth,
    BoxConfig,
    BoxState,
    CameraConfig,
    CameraStatus,
    ClipExportJob,
    CommandReply,
    CommandRequest,
    ConfigDesired,
    ConfigReported,
    Event,
    JobProgress,
    JobRequest,
    Message,
    ProtocolError,
    SnapshotCommand,
    decode,
    encode,
    topic_for,
    utc_now,
)
from protocol.topics import Kind, box_filter, controller_subscriptions, topic
from simulator.fleet import FleetSettings, FleetSimulator
from simulator.fleet.completeness import RecordingDay
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient

BOX = "sim-0001-a"


@pytest.fixture
def centre(broker: MosquittoBroker) -> Iterator[TestClient]:
    """The centre's side: subscribed to everything boxes publish."""
    client = TestClient(broker.port, client_id="centre")
    for topic_filter in controller_subscriptions():
        client.subscribe(topic_filter)
    yield client
    client.close()


def _collect(
    client: TestClient, until: Callable[[list[Message]], bool], timeout: float = 15.0
) -> list[Message]:
    """Decode everything that arrives (any ProtocolError fails the test) until `until` holds."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while not until(messages):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"condition not met; got {[m.kind for m in messages][-30:]}")
        try:
            raw = client.next_message(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        messages.append(decode(raw.topic, raw.payload))
    return messages


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.timeout(60)
def test_fleet_speaks_the_protocol_and_breaks_things(
    broker: MosquittoBroker, centre: TestClient
) -> None:
    settings = FleetSettings(
        schools=3,
        broker_url=broker.url,
        fault_rate=7200,
        fault_duration_s=0.6,
        telemetry_interval_s=0.5,
        heartbeat_s=1.0,
        seed=7,
    )
    fleet = FleetSimulator(settings)
    fleet.start()
    try:
        boxes = {settings.box_id(i) for i in (1, 2, 3)}

        def enough(messages: list[Message]) -> bool:
            events = {m.body.type for m in messages if isinstance(m, Event)}
            wills = {
                m.box_id
                for m in messages
                if isinstance(m, BoxState) and m.reason == "connection_lost"
            }
            return (
                bool(wills)
                and {
                    "camera_offline",
                    "camera_online",
                    "recording_gap",
                    "quality_fault",
                }
                <= events
            )

        messages = _collect(centre, enough, timeout=40)
    finally:
        fleet.stop()

    births = [m for m in messages if isinstance(m, Birth)]
    assert {b.box_id for b in births} == boxes
    assert all(len(b.cameras) == 16 and b.school == b.box_id[:-2] for b in births)
    statuses = [m for m in messages if isinstance(m, CameraStatus)]
    for box_id in boxes:
        assert {s.slot for s in statuses if s.box_id == box_id} == set(range(1, 17))
    assert any(s.stream is not None and s.stream.hd for s in statuses)
    assert any(s.kind == Kind.TELEMETRY for s in messages)
    # Every status says today's recording completeness (RecordingDay's own test below).
    assert all(s.completeness is not None and 0 <= s.completeness <= 1 for s in statuses)

    # A will carries the session of the connection it died with, announced by that birth.
    for will in (m for m in messages if isinstance(m, BoxState) and m.state == "offline"):
        if will.reason != "connection_lost":
            continue
        sessions = [b.session for b in births if b.box_id == will.box_id]
        assert will.session in sessions

    # seq is monotonic per boot in the order the box sent (wills and replays excepted).
    last: dict[tuple[str, str], int] = {}
    for m in messages:
        if isinstance(m, BoxState) and m.reason == "connection_lost":
            continue
        if getattr(m, "historical", False):
            continue
        key = (m.box_id, m.boot_id)  # type: ignore[union-attr]
        assert m.seq > last.get(key, -1), f"seq went back for {key}"  # type: ignore[union-attr]
        last[key] = m.seq  # type: ignore[union-attr]


@pytest.mark.timeout(30)
def test_retained_state_and_statuses_are_left_for_a_late_centre(broker: MosquittoBroker) -> None:
    fleet = FleetSimulator(FleetSettings(schools=2, broker_url=broker.url, fault_rate=0))
    fleet.start()
    try:
        assert fleet.wait_connected(timeout=10)
        time.sleep(0.5)
        late = TestClient(broker.port, client_id="late-centre")
        try:
            late.subscribe(box_filter(Kind.STATE))
            late.subscribe(box_filter(Kind.CAMERA_STATUS))
            got = [late.next_message(timeout=5) for _ in range(2 + 32)]
        finally:
            late.close()
    finally:
        fleet.stop()
    assert all(m.retain for m in got)
    decoded = [decode(m.topic, m.payload) for m in got]
    states = [m for m in decoded if isinstance(m, BoxState)]
    assert {(s.box_id, s.state) for s in states} == {
        ("sim-0001-a", "online"),
        ("sim-0002-a", "online"),
    }


class _UploadServer:
    """A real HTTP server on 127.0.0.1 speaking the clip-upload protocol (docs/uploads.md).

    It answers the first PATCH with a 500 so the box's retry-and-resume path runs too.
    """

    TOKEN = "tok_0123456789abcdef"

    def __init__(self) -> None:
        self.received = bytearray()
        self.complete = threading.Event()
        self.failures_left = 1
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {server.TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return False
                return True

            def do_HEAD(self) -> None:
                if self._authorised():
                    self.send_response(200)
                    self.send_header("Upload-Offset", str(len(server.received)))
                    self.end_headers()

            def do_PATCH(self) -> None:
                if not self._authorised():
                    return
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if server.failures_left:
                    server.failures_left -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                if int(self.headers["Upload-Offset"]) != len(server.received):
                    self.send_response(409)
                    self.send_header("Upload-Offset", str(len(server.received)))
                    self.end_headers()
                    return
                server.received += body
                self.send_response(204)
                self.send_header("Upload-Offset", str(len(server.received)))
                if len(server.received) >= int(self.headers["Upload-Length"]):
                    self.send_header("Upload-Complete", "1")
                    server.complete.set()
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/media/uploads/j-1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.mark.timeout(40)
def test_fleet_answers_config_commands_and_jobs(
    broker: MosquittoBroker, centre: TestClient
) -> None:
    fleet = FleetSimulator(FleetSettings(schools=1, broker_url=broker.url, fault_rate=0))
    fleet.start()
    uploads = _UploadServer()
    try:
        assert fleet.wait_connected(timeout=10)
        now = utc_now()

        def send(message: ConfigDesired | CommandRequest | JobRequest) -> None:
            centre.publish(topic_for(message), encode(message), retain=False)

        def command(request_id: str, slot: int, deadline_s: float = 10) -> CommandRequest:
            return CommandRequest(
                box_id=BOX,
                request_id=request_id,
                reply_to=topic(Kind.COMMAND_REPLY, BOX),
                deadline=utc_now() + timedelta(seconds=deadline_s),
                command=SnapshotCommand(slot=slot),
            )

        camera = CameraConfig(slot=1, name="Front gate", url="rtsp://10.0.0.21/main")
        send(ConfigDesired(box_id=BOX, version=3, config=BoxConfig(cameras=[camera])))
        too_many = [
            CameraConfig(slot=s, name=f"cam {s}", url=f"rtsp://10.0.0.{s}/main")
            for s in range(1, 18)
        ]
        send(ConfigDesired(box_id=BOX, version=4, config=BoxConfig(cameras=too_many)))
        send(command("r-snap", 1))
        send(command("r-slot", 20))
        send(command("r-late", 1, deadline_s=-5))
        send(
            JobRequest(
                box_id=BOX,
                job_id="j-1",
                deadline=now + timedelta(minutes=5),
                job=ClipExportJob(
                    slot=2,
                    start=now - timedelta(minutes=2),
                    end=now - timedelta(minutes=1),
                    upload_url=uploads.url,
                    upload_token=_UploadServer.TOKEN,
                ),
            )
        )

        def answered(messages: list[Message]) -> bool:
            replies = {m.request_id for m in messages if isinstance(m, CommandReply)}
            reports = {m.status for m in messages if isinstance(m, ConfigReported)}
            done = any(isinstance(m, JobProgress) and m.state.final for m in messages)
            return replies == {"r-snap", "r-slot", "r-late"} and len(reports) == 2 and done

        messages = _collect(centre, answered, timeout=30)
    finally:
        uploads.close()
        fleet.stop()

    reports = {m.desired_version: m for m in messages if isinstance(m, ConfigReported)}
    assert reports[3].status == "applied" and reports[3].applied_version == 3
    assert reports[4].status == "rejected" and reports[4].applied_version == 3
    assert reports[4].errors
    config_events = {m.body.type for m in messages if isinstance(m, Event)}
    assert {"config_applied", "config_rejected"} <= config_events

    replies = {m.request_id: m for m in messages if isinstance(m, CommandReply)}
    snapshot = replies["r-snap"]
    assert snapshot.ok and snapshot.result is not None and snapshot.result.type == "snapshot"
    assert snapshot.result.jpeg_base64 is not None
    assert base64.b64decode(snapshot.result.jpeg_base64)[:2] == b"\xff\xd8"
    assert replies["r-slot"].error is not None and replies["r-slot"].error.code == "unknown_slot"
    assert replies["r-late"].error is not None
    assert replies["r-late"].error.code == "deadline_expired"

    progress = [m for m in messages if isinstance(m, JobProgress)]
    assert [p.state.value for p in progress] == ["queued", "in_progress", "succeeded"]
    assert progress[-1].result is not None
    assert progress[-1].result.bytes == len(uploads.received) > 0
    assert bytes(uploads.received[4:8]) == b"ftyp"


def test_an_unreadable_command_gets_a_clear_error_reply(
    broker: MosquittoBroker, centre: TestClient
) -> None:
    fleet = FleetSimulator(FleetSettings(schools=1, broker_url=broker.url, fault_rate=0))
    fleet.start()
    try:
        assert fleet.wait_connected(timeout=10)
        bad = (
            b'{"schema": 1, "kind": "command_request", "box_id": "sim-0001-a",'
            b' "request_id": "r-bad"}'
        )
        centre.publish(topic(Kind.COMMAND_REQUEST, BOX), bad)
        messages = _collect(
            centre, lambda ms: any(isinstance(m, CommandReply) for m in ms), timeout=10
        )
    finally:
        fleet.stop()
    reply = next(m for m in messages if isinstance(m, CommandReply))
    assert reply.request_id == "r-bad" and reply.error is not None
    assert reply.error.code == "bad_arguments"
    with pytest.raises(ProtocolError):
        decode(topic(Kind.COMMAND_REQUEST, BOX), bad)


def test_recording_day_counts_outages_and_starts_afresh_at_midnight() -> None:
    start = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    day = RecordingDay(start, share_before=1.0, down=False)
    assert day.share(start + timedelta(hours=1)) == 1.0
    day.went_down(start + timedelta(hours=1))
    day.came_up(start + timedelta(hours=2))
    assert day.share(start + timedelta(hours=2)) == round(1 - 1 / 14, 4)
    day.went_down(start + timedelta(hours=11))  # down over midnight
    assert day.share(start + timedelta(hours=13)) == 0.0  # 01:00, down since 00:00
    day.came_up(start + timedelta(hours=13))
    assert day.share(start + timedelta(hours=14)) == 0.5
    broken = RecordingDay(start, share_before=0.0, down=True)
    assert broken.share(start + timedelta(hours=6)) == 0.0
