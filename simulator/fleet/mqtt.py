"""A lean MQTT 3.1.1 client on asyncio, sized for ten thousand connections in one process.

Each connection is an `asyncio.Protocol` (no task, no thread, no timer of its own): packets are
parsed in `data_received`, keepalive is driven by one fleet-wide sweep calling `keepalive()`.
It does what a simulated box needs and no more: CONNECT with a Last Will, PUBLISH at QoS 0/1
(QoS 1 completes on PUBACK, in-flight capped per connection), SUBSCRIBE, receiving QoS 0/1/2,
PINGREQ, DISCONNECT, and `abort()` - drop the TCP connection without DISCONNECT so the broker
fires the will. docs/fleet-simulator.md says why this and not paho.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import Callable

from protocol.mqtt_packets import Will, connect_packet, packet, read_length, string

__all__ = ["ConnectRefused", "MqttConnection", "Will", "connect"]

log = logging.getLogger(__name__)

_CONNACK, _PUBLISH, _PUBACK = 0x20, 0x30, 0x40
_PUBREC, _PUBREL, _PUBCOMP = 0x50, 0x62, 0x70
_SUBSCRIBE, _SUBACK, _PINGREQ, _PINGRESP, _DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0

_CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}

MessageHandler = Callable[[str, bytes], None]


class ConnectRefused(ConnectionError):
    """The broker answered CONNECT with a refusal (bad credentials, not authorised...)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"broker refused the connection: {_CONNACK_REASONS.get(code, code)}")
        self.code = code


class MqttConnection(asyncio.Protocol):
    """One MQTT session over one TCP connection; created by `connect()`."""

    def __init__(self, on_message: MessageHandler, max_inflight: int) -> None:
        self.on_message = on_message
        self.keepalive_s = 60
        self.last_sent = self.last_received = time.monotonic()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._connack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._slots = asyncio.Semaphore(max_inflight)

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        lost = ConnectionError(f"connection lost: {exc}" if exc else "connection closed")
        if not self._connack.done():
            self._connack.set_exception(lost)
            self._connack.exception()  # retrieved here so an unawaited refusal never warns
        for future in self._pending.values():
            if not future.done():
                future.set_exception(lost)
                future.exception()
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        buffer = self._buffer
        buffer += data
        while True:
            taken = self._take_packet(buffer)
            if taken is None:
                return
            first, body = taken
            try:
                self._handle(first, body)
            except Exception:  # one bad packet or handler must not kill the connection
                log.exception("error handling MQTT packet type 0x%02x", first)

    # --- public -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._connack.done() and not self.closed.done()

    async def wait_connack(self, timeout: float) -> None:
        code = await asyncio.wait_for(self._connack, timeout)
        if code != 0:
            self.abort()
            raise ConnectRefused(code)

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """QoS 0 publish (or QoS 1 without waiting for the PUBACK); raises if disconnected."""
        if qos == 0:
            self._send(packet(_PUBLISH | (0x01 if retain else 0), string(topic) + payload))
        else:
            self._publish_qos1(topic, payload, retain)

    async def publish_acked(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """QoS 1 publish that returns once the broker has acknowledged it."""
        await self._slots.acquire()
        try:
            await self._publish_qos1(topic, payload, retain)
        finally:
            self._slots.release()

    async def subscribe(self, filters: list[str], qos: int = 1, timeout: float = 10.0) -> None:
        """Subscribe to every filter and wait for the SUBACK."""
        packet_id, future = self._new_pending()
        body = struct.pack("!H", packet_id) + b"".join(string(f) + bytes((qos,)) for f in filters)
        self._send(packet(_SUBSCRIBE, body))
        await asyncio.wait_for(future, timeout)

    def keepalive(self, now: float) -> None:
        """Ping when idle; drop a connection the broker has not answered for 1.5 keepalives."""
        if self._transport is None:
            return
        if now - self.last_received > self.keepalive_s * 1.5:
            log.warning(
                "broker silent for %.0f s; dropping the connection", now - self.last_received
            )
            self.abort()
        elif now - self.last_sent > self.keepalive_s * 0.5:
            self._send(b"\xc0\x00")

    def disconnect(self) -> None:
        """Clean DISCONNECT: the broker discards the will."""
        if self._transport is not None:
            self._send(b"\xe0\x00")
            self._transport.close()

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT; the broker publishes the will."""
        if self._transport is not None:
            self._transport.abort()

    # --- internals --------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("not connected")
        self._transport.write(data)
        self.last_sent = time.monotonic()

    def _new_pending(self) -> tuple[int, asyncio.Future[None]]:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._pending:
                future = asyncio.get_running_loop().create_future()
                self._pending[self._next_id] = future
                return self._next_id, future
        raise RuntimeError("no free MQTT packet id")

    def _publish_qos1(self, topic: str, payload: bytes, retain: bool) -> asyncio.Future[None]:
        packet_id, future = self._new_pending()
        body = string(topic) + struct.pack("!H", packet_id) + payload
        try:
            self._send(packet(_PUBLISH | 0x02 | (0x01 if retain else 0), body))
        except ConnectionError:
            self._pending.pop(packet_id, None)
            raise
        return future

    @staticmethod
    def _take_packet(buffer: bytearray) -> tuple[int, bytes] | None:
        length, pos = read_length(buffer, 1, len(buffer))
        if pos < 0 or len(buffer) < pos + length:
            return None
        first, body = buffer[0], bytes(buffer[pos : pos + length])
        del buffer[: pos + length]
        return first, body

    def _handle(self, first: int, body: bytes) -> None:
        kind = first & 0xF0
        if kind == _PUBLISH:
            self._on_publish(first, body)
        elif kind in (_PUBACK, _SUBACK, _PUBCOMP):
            future = self._pending.pop(struct.unpack_from("!H", body)[0], None)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == _CONNACK:
            if not self._connack.done():
                self._connack.set_result(body[1])
        elif kind == _PUBREL & 0xF0:
            self._send(packet(_PUBCOMP, body[:2]))
        elif kind == _PUBREC:  # we never publish at QoS 2; answer to keep the broker happy
            self._send(packet(_PUBREL, body[:2]))

    def _on_publish(self, first: int, body: bytes) -> None:
        qos = (first >> 1) & 0x03
        (topic_len,) = struct.unpack_from("!H", body)
        topic = body[2 : 2 + topic_len].decode("utf-8", errors="replace")
        pos = 2 + topic_len
        if qos:
            packet_id = body[pos : pos + 2]
            pos += 2
            self._send(packet(_PUBACK if qos == 1 else _PUBREC, packet_id))
        self.on_message(topic, body[pos:])


async def connect(
    host: str,
    port: int,
    *,
    client_id: str,
    on_message: MessageHandler,
    username: str | None = None,
    password: str | None = None,
    will: Will | None = None,
    keepalive: int = 60,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 15.0,
    max_inflight: int = 100,
) -> MqttConnection:
    """Open a TCP (or TLS) connection, send CONNECT and wait for an accepting CONNACK."""
    loop = asyncio.get_running_loop()
    _transport, connection = await asyncio.wait_for(
        loop.create_connection(
            lambda: MqttConnection(on_message, max_inflight), host, port, ssl=ssl_context
        ),
        timeout,
    )
    connection.keepalive_s = keepalive
    try:
        connection._send(connect_packet(client_id, keepalive, username, password, will=will))
        await connection.wait_connack(timeout)
    except BaseException:
        connection.abort()
        raise
    return connection
