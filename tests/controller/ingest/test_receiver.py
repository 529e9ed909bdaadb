"""The lean ingest receiver against a real Mosquitto (and, where Mosquitto cannot be made to
misbehave, a scripted fake broker on loopback)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.ingest.receiver import IngestReceiver
from controller.mqtt import ControllerMqtt
from protocol import Kind, topic
from protocol.mqtt_packets import encode_length
from protocol.topics import controller_subscriptions, shared
from tests.fixtures.broker import SECURE_USERS
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient as MqttClient
from tests.harness.ports import free_port

pytestmark = [pytest.mark.timeout(60)]

BOX = "mh-0001-a"
EVENT = topic(Kind.EVENT, BOX)
TELEMETRY = topic(Kind.TELEMETRY, BOX)


class Collector:
    """A sink that keeps what it is handed, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()

    def __call__(self, topic_name: str, payload: bytes) -> None:
        with self._cond:
            self.messages.append((topic_name, payload))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} of {count} messages arrived")
            return list(self.messages)


def _wait(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _receiver(
    broker: MosquittoBroker,
    sink: Callable[[str, bytes], None] | None,
    filters: list[str] | None = None,
    **options: Any,
) -> IngestReceiver:
    return IngestReceiver(
        broker.host,
        broker.port,
        filters=filters or controller_subscriptions(),
        sink=sink,
        **options,
    )


@pytest.fixture
def started() -> Iterator[list[IngestReceiver]]:
    """Receivers a test starts; all stopped at the end."""
    receivers: list[IngestReceiver] = []
    yield receivers
    for receiver in receivers:
        receiver.stop()


def _start(receivers: list[IngestReceiver], receiver: IngestReceiver) -> IngestReceiver:
    receivers.append(receiver)
    receiver.start()
    assert receiver.subscribed.wait(10), "no SUBACK"
    return receiver


class TightBroker(MosquittoBroker):
    """Mosquitto that sends at most two unacknowledged QoS 1 messages to a client: delivery
    goes on only if the receiver's PUBACKs arrive and are well-formed."""

    def _write_config(self) -> None:
        super()._write_config()
        text = self.conf_file.read_text().replace(
            "max_inflight_messages 0", "max_inflight_messages 2"
        )
        self.conf_file.write_text(text)


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_qos0_and_qos1_arrive_in_order_and_are_acknowledged(
    tmp_path: Path, started: list[IngestReceiver], version: str
) -> None:
    with TightBroker(tmp_path / "tight") as broker:
        sink = Collector()
        _start(started, _receiver(broker, sink, protocol_version=version))
        box = MqttClient(broker.port, client_id=BOX)
        try:
            sent = []
            for n in range(300):
                qos, name = (0, TELEMETRY) if n % 3 == 0 else (1, EVENT)
                box.publish(name, f"message {n}".encode(), qos=qos)
                sent.append((name, f"message {n}".encode()))
            received = sink.wait_for(len(sent))
        finally:
            box.close()
        assert len(received) == len(sent)
        for name in (TELEMETRY, EVENT):  # MQTT orders each topic (and QoS) of one publisher
            assert [m for m in received if m[0] == name] == [m for m in sent if m[0] == name]


def test_large_and_many_small_payloads_survive_any_split(
    broker: MosquittoBroker, started: list[IngestReceiver]
) -> None:
    sink = Collector()
    _start(started, _receiver(broker, sink))
    box = MqttClient(broker.port, client_id=BOX)
    try:
        sizes = [0, 1, 127, 128, 16_383, 16_384, 200_000, 3_000_000]  # 3 MB > the read buffer
        payloads = [os.urandom(size) for size in sizes]
        payloads += [f"small {n}".encode() for n in range(5000)]
        infos = [box.client.publish(EVENT, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(timeout=20)
        received = sink.wait_for(len(payloads), timeout=20)
        assert [p for _t, p in received] == payloads
    finally:
        box.close()


def test_a_sink_that_raises_does_not_stop_delivery(
    broker: MosquittoBroker, started: list[IngestReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    kept: list[bytes] = []

    def sink(_topic: str, payload: bytes) -> None:
        if payload.startswith(b"bad"):
            raise RuntimeError("handler broke")
        kept.append(payload)

    def failures() -> int:
        return sum("ingest sink failed" in r.getMessage() for r in caplog.records)

    _start(started, _receiver(broker, sink))
    box = MqttClient(broker.port, client_id=BOX)
    try:
        with caplog.at_level(logging.ERROR, logger="controller.ingest.receiver"):
            for n in range(20):
                box.publish(EVENT, f"{'bad' if n % 2 else 'good'} {n}".encode())
            _wait(lambda: len(kept) == 10 and failures() >= 10)  # the last one is bad
    finally:
        box.close()
    assert kept == [f"good {n}".encode() for n in range(0, 20, 2)]
    assert failures() == 10


def test_a_blocking_sink_holds_the_reading_and_loses_nothing(
    broker: MosquittoBroker, started: list[IngestReceiver]
) -> None:
    release = threading.Event()
    sink = Collector()

    def slow_sink(topic_name: str, payload: bytes) -> None:
        release.wait(10)
        sink(topic_name, payload)

    _start(started, _receiver(broker, slow_sink))
    box = MqttClient(broker.port, client_id=BOX)
    try:
        sent = [f"held {n}".encode() for n in range(100)]
        for payload in sent:
            box.publish(EVENT, payload)
        time.sleep(0.3)
        assert sink.messages == []
        release.set()
        assert [p for _t, p in sink.wait_for(len(sent))] == sent
    finally:
        box.close()


def test_broker_restart_is_survived(
    broker: MosquittoBroker, started: list[IngestReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    sink = Collector()
    receiver = _start(started, _receiver(broker, sink))
    with caplog.at_level(logging.INFO, logger="controller.ingest.receiver"):
        broker.stop()
        _wait(lambda: not receiver.subscribed.is_set())
        broker.start()
        assert receiver.subscribed.wait(15), "not subscribed again after the restart"
    box = MqttClient(broker.port, client_id=BOX)
    try:
        box.publish(EVENT, b"after the restart")
        assert sink.wait_for(1) == [(EVENT, b"after the restart")]
    finally:
        box.close()
    messages = [r.getMessage() for r in caplog.records]
    assert "ingest connection lost" in messages
    assert "ingest subscribed" in messages


def test_a_shared_group_splits_messages_between_receivers(
    broker: MosquittoBroker, started: list[IngestReceiver]
) -> None:
    filters = [shared("ingest", f) for f in controller_subscriptions()]
    first, second = Collector(), Collector()
    _start(started, _receiver(broker, first, filters=filters, client_id="replica-1"))
    _start(started, _receiver(broker, second, filters=filters, client_id="replica-2"))
    box = MqttClient(broker.port, client_id=BOX)
    try:
        sent = {f"shared {n}".encode() for n in range(200)}
        for payload in sorted(sent):
            box.publish(EVENT, payload)
        _wait(lambda: len(first.messages) + len(second.messages) >= len(sent))
    finally:
        box.close()
    got_first = [p for _t, p in first.messages]
    got_second = [p for _t, p in second.messages]
    assert got_first and got_second
    assert sorted(got_first + got_second) == sorted(sent)


def _secure_context(broker: MosquittoBroker) -> ssl.SSLContext:
    assert broker.pki is not None
    return ssl.create_default_context(cafile=str(broker.pki.ca_file))


def test_tls_with_password(secure_broker: MosquittoBroker, started: list[IngestReceiver]) -> None:
    sink = Collector()
    _start(
        started,
        _receiver(
            secure_broker,
            sink,
            username="controller",
            password=SECURE_USERS["controller"],
            ssl_context=_secure_context(secure_broker),
        ),
    )
    assert secure_broker.pki is not None
    box = MqttClient(
        secure_broker.port,
        client_id=BOX,
        username=BOX,
        password=SECURE_USERS[BOX],
        ca_file=secure_broker.pki.ca_file,
    )
    try:
        box.publish(EVENT, b"over tls")
        assert sink.wait_for(1) == [(EVENT, b"over tls")]
    finally:
        box.close()


def test_a_wrong_password_is_logged_then_retried_until_accepted(
    secure_broker: MosquittoBroker,
    started: list[IngestReceiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = _receiver(
        secure_broker,
        Collector(),
        username="ingest-late",
        password="not-yet-valid",
        ssl_context=_secure_context(secure_broker),
    )
    started.append(receiver)
    with caplog.at_level(logging.ERROR, logger="controller.ingest.receiver"):
        receiver.start()
        _wait(lambda: any(r.getMessage() == "broker refused ingest" for r in caplog.records))
    refusal = next(r for r in caplog.records if r.getMessage() == "broker refused ingest")
    assert "password" in refusal.__dict__["reason"].lower() or "not authorized" in (
        refusal.__dict__["reason"].lower()
    )
    assert "not-yet-valid" not in caplog.text
    assert not receiver.subscribed.is_set()
    # The operator fixes the password file and reloads the broker; the next retry gets in.
    subprocess.run(
        [
            "mosquitto_passwd",
            "-b",
            str(secure_broker.workdir / "passwd"),
            "ingest-late",
            "not-yet-valid",
        ],
        check=True,
        capture_output=True,
    )
    os.kill(secure_broker.pid, signal.SIGHUP)
    assert receiver.subscribed.wait(20), "never accepted after the password file was fixed"


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_controller_start_waits_for_the_suback(broker: MosquittoBroker, version: str) -> None:
    sink = Collector()
    client = ControllerMqtt(broker.url, client_id="controller-a", protocol_version=version)
    client.subscribe_ingest(sink)
    assert client.start(10)
    box = MqttClient(broker.port, client_id=BOX)
    try:
        box.publish(EVENT, b"right after start")  # no sleep: start() means subscribed
        assert sink.wait_for(1) == [(EVENT, b"right after start")]
        client.detach_ingest()
        box.publish(EVENT, b"after detach")
        box.publish(TELEMETRY, b"after detach", qos=0)
        time.sleep(0.3)
        assert sink.messages == [(EVENT, b"right after start")]
    finally:
        box.close()
        client.stop()


# --- a scripted fake broker: Mosquitto cannot be told where to split or how to misbehave ---


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    first = exactly(1)[0]
    length, shift = 0, 0
    while True:
        byte = exactly(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first, exactly(length)


def _publish_v5(topic_name: str, payload: bytes, packet_id: int | None) -> bytes:
    """PUBLISH with properties the receiver must skip: expiry, and a user property long
    enough that the property length takes two bytes."""
    props = b"\x02" + struct.pack("!I", 60)
    props += b"\x26" + struct.pack("!H", 3) + b"key" + struct.pack("!H", 150) + b"v" * 150
    name = topic_name.encode()
    body = struct.pack("!H", len(name)) + name
    if packet_id is not None:
        body += struct.pack("!H", packet_id)
    body += encode_length(len(props)) + props + payload
    return bytes((0x32 if packet_id is not None else 0x30,)) + encode_length(len(body)) + body


class ScriptedBroker:
    """A fake MQTT 5 broker on loopback that plays `script(connection_index, socket)` after
    the CONNACK and SUBACK, and records the PUBACK ids it gets back."""

    def __init__(self, script: Callable[[int, socket.socket], None]) -> None:
        self.port = free_port()
        self.pubacks: list[int] = []
        self.connections = 0
        self._script = script
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self._server.accept()
            except OSError:
                return
            with conn:
                index = self.connections
                self.connections += 1
                try:
                    _read_packet(conn)  # CONNECT
                    conn.sendall(b"\x20\x03\x00\x00\x00")
                    _first, body = _read_packet(conn)  # SUBSCRIBE
                    codes = bytes(len(controller_subscriptions()))
                    conn.sendall(
                        b"\x90" + encode_length(3 + len(codes)) + body[:2] + b"\x00" + codes
                    )
                    self._script(index, conn)
                    conn.settimeout(2)
                    while True:
                        first, body = _read_packet(conn)
                        if first == 0x40:
                            self.pubacks.append(struct.unpack("!H", body[:2])[0])
                        if first == 0xE0:
                            break
                except (OSError, ConnectionError):
                    continue

    def close(self) -> None:
        self._server.close()


def test_packets_split_anywhere_are_reassembled_and_acked_in_order(
    started: list[IngestReceiver],
) -> None:
    sent = [(EVENT, f"split {n}".encode() * (n % 7 + 1)) for n in range(60)]
    stream = b"".join(_publish_v5(t, p, n + 1) for n, (t, p) in enumerate(sent))

    def dribble(_index: int, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for at in range(0, len(stream), 7):  # cuts every header, length and property
            conn.sendall(stream[at : at + 7])
            time.sleep(0.0005)

    fake = ScriptedBroker(dribble)
    try:
        sink = Collector()
        receiver = IngestReceiver(
            "127.0.0.1", fake.port, filters=controller_subscriptions(), sink=sink
        )
        _start(started, receiver)
        assert sink.wait_for(len(sent)) == sent
        receiver.stop()
        _wait(lambda: len(fake.pubacks) == len(sent))
        assert fake.pubacks == list(range(1, len(sent) + 1))
    finally:
        fake.close()


def test_a_malformed_packet_closes_the_connection_and_reconnects(
    started: list[IngestReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    def script(index: int, conn: socket.socket) -> None:
        if index == 0:  # a PUBLISH whose topic runs past the end of the packet
            conn.sendall(_publish_v5(EVENT, b"ok", 1) + b"\x30\x04\x00\x40ab")
        else:
            conn.sendall(_publish_v5(EVENT, b"after reconnect", None))

    fake = ScriptedBroker(script)
    try:
        sink = Collector()
        receiver = IngestReceiver(
            "127.0.0.1", fake.port, filters=controller_subscriptions(), sink=sink
        )
        started.append(receiver)
        with caplog.at_level(logging.ERROR, logger="controller.ingest.receiver"):
            receiver.start()
            assert sink.wait_for(2, timeout=15) == [
                (EVENT, b"ok"),
                (EVENT, b"after reconnect"),
            ]
        assert fake.connections == 2
        assert "malformed packet from broker; reconnecting" in caplog.messages
    finally:
        fake.close()
