"""A lean MQTT subscriber for the ingest subscription, on its own thread and connection.

paho costs ~60 us a message to receive (a few small reads per packet, a message object, MQTT 5
property parsing, one send per PUBACK); on 2 cores that is as much CPU as decoding and writing
the message. This client reads with large `recv_into` calls, parses every complete PUBLISH in
the buffer (properties skipped), hands (topic, payload) to the sink and sends the PUBACKs of
one read together, in the order received. It only subscribes: the controller publishes
through paho.

On any error - refused CONNACK, lost connection, silent broker, malformed packet - it logs the
reason, closes the connection and connects again after a capped exponential backoff (1 s to
30 s), subscribing again every time. A sink that raises is logged and delivery goes on; a sink
that blocks stops the reading (back-pressure on the broker).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

from controller.ingest.mqtt_wire import (
    CONNACK,
    DISCONNECT,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK_HEADER,
    PUBLISH,
    SUBACK,
    MalformedPacket,
    connack_code,
    connect_packet,
    read_length,
    reason_text,
    refused,
    suback_codes,
    subscribe_packet,
)

__all__ = ["IngestReceiver"]

log = logging.getLogger(__name__)

MessageSink = Callable[[str, bytes], None]

MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
HANDSHAKE_TIMEOUT_S = 10.0
"""Longest from TCP connect to SUBACK."""
POLL_S = 0.2
"""Longest a read waits before the loop looks at the stop flag and the keepalive."""
BUFFER_BYTES = 1 << 20


class BrokerRefused(ConnectionError):
    """CONNACK said no, or the broker sent DISCONNECT with a reason."""


class IngestReceiver:
    """Subscribes `filters` at QoS 1 and hands each message to `sink` until stopped."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        filters: list[str],
        sink: MessageSink | None,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        protocol_version: str = "5",
        keepalive: int = 30,
    ) -> None:
        self.sink = sink
        """Called with (topic, payload) on the receiver's thread; None drops messages."""
        self.subscribed = threading.Event()
        """Set while connected with the SUBACK received."""
        self._host, self._port = host, port
        self._filters = filters
        self._client_id = client_id
        self._username, self._password = username, password
        self._ssl_context = ssl_context
        self._v5 = protocol_version != "3.1.1"
        self._keepalive = keepalive
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        return f"{'mqtts' if self._ssl_context else 'mqtt'}://{self._host}:{self._port}"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ingest-receiver", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Send DISCONNECT and end the thread (within `POLL_S` unless the sink is blocking)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("ingest receiver did not stop", extra={"broker": self.endpoint})
            self._thread = None

    # --- connection loop ----------------------------------------------------------------

    def _run(self) -> None:
        delay = MIN_BACKOFF_S
        while not self._stop.is_set():
            context = {"broker": self.endpoint, "client_id": self._client_id}
            try:
                self._session()
            except BrokerRefused as exc:
                log.error("broker refused ingest", extra={**context, "reason": str(exc)})
            except (MalformedPacket, UnicodeDecodeError) as exc:
                log.error(
                    "malformed packet from broker; reconnecting",
                    extra={**context, "error": str(exc)},
                )
            except OSError as exc:  # refused, reset, TLS failure, silent broker
                log.warning("ingest connection lost", extra={**context, "error": repr(exc)})
            except Exception:  # the loop must go on whatever happens
                log.exception("ingest receiver failed", extra=context)
            finally:
                if self.subscribed.is_set():
                    delay = MIN_BACKOFF_S
                self.subscribed.clear()
                self._close()
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, MAX_BACKOFF_S)
        log.info("ingest receiver stopped", extra={"broker": self.endpoint})

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self._host, self._port), timeout=HANDSHAKE_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self._host)
            sock.settimeout(POLL_S)
        except BaseException:
            sock.close()
            raise
        return sock

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _session(self) -> None:
        """One connection: CONNECT, then read until stopped or an error is raised."""
        sock = self._sock = self._open()
        sock.sendall(
            connect_packet(
                self._client_id, self._keepalive, self._username, self._password, v5=self._v5
            )
        )
        opened = last_sent = last_received = time.monotonic()
        buffer = bytearray(BUFFER_BYTES)
        view = memoryview(buffer)
        filled = 0
        acks = bytearray()
        try:
            while not self._stop.is_set():
                try:
                    count = sock.recv_into(view[filled:])
                except TimeoutError:
                    count = -1
                now = time.monotonic()
                if count == 0:
                    raise ConnectionError("broker closed the connection")
                if count > 0:
                    last_received = now
                    filled += count
                    used = self._parse(buffer, filled, acks)
                    if acks:
                        sock.sendall(acks)
                        acks.clear()
                        last_sent = now
                    if used:
                        filled -= used
                        buffer[:filled] = buffer[used : used + filled]
                    elif filled == len(buffer):  # one packet larger than the buffer
                        view.release()
                        buffer = buffer + bytearray(len(buffer))
                        view = memoryview(buffer)
                if not self.subscribed.is_set() and now - opened > HANDSHAKE_TIMEOUT_S:
                    raise TimeoutError("no CONNACK and SUBACK in time")
                if now - last_received > self._keepalive * 1.5:
                    raise TimeoutError(f"broker silent for {now - last_received:.0f} s")
                if now - last_sent > self._keepalive / 2:
                    sock.sendall(PINGREQ_PACKET)
                    last_sent = now
            sock.sendall(DISCONNECT_PACKET)
        finally:
            view.release()

    # --- packets ------------------------------------------------------------------------

    def _parse(self, buffer: bytearray, end: int, acks: bytearray) -> int:
        """Handle every complete packet in `buffer[:end]`; the bytes used."""
        v5 = self._v5
        pos = 0
        while end - pos >= 2:
            first = buffer[pos]
            length = buffer[pos + 1]
            start = pos + 2
            if length & 0x80:
                length, start = read_length(buffer, pos + 1, end)
                if start < 0:
                    break
            stop = start + length
            if stop > end:
                break
            if first & 0xF0 == PUBLISH:
                if length < 2:
                    raise MalformedPacket(f"PUBLISH of {length} bytes")
                topic_end = at = start + 2 + (buffer[start] << 8 | buffer[start + 1])
                if first & 0x06:
                    if first & 0x06 != 0x02:
                        raise MalformedPacket(f"PUBLISH at QoS {(first >> 1) & 3}")
                    acks += PUBACK_HEADER
                    acks += buffer[at : at + 2]
                    at += 2
                if v5 and at < stop:
                    skip = buffer[at]
                    if skip & 0x80:
                        skip, at = read_length(buffer, at, stop)
                        at += skip
                    else:
                        at += 1 + skip
                elif v5:
                    raise MalformedPacket("PUBLISH without properties")
                if not topic_end <= at <= stop:
                    raise MalformedPacket("PUBLISH shorter than its header")
                topic = buffer[start + 2 : topic_end].decode()
                sink = self.sink
                if sink is not None:
                    try:
                        sink(topic, bytes(buffer[at:stop]))
                    except Exception:  # one bad message must never stop the reading
                        log.exception("ingest sink failed", extra={"topic": topic})
            else:
                self._control(first, bytes(buffer[start:stop]))
            pos = stop
        return pos

    def _control(self, first: int, body: bytes) -> None:
        """Everything but PUBLISH: the handshake, ping replies and the broker's DISCONNECT."""
        v5 = self._v5
        if first == CONNACK:
            code = connack_code(body)
            if code:
                raise BrokerRefused(reason_text(CONNACK, code, v5=v5))
            assert self._sock is not None
            self._sock.sendall(subscribe_packet(1, self._filters, v5=v5))
        elif first == SUBACK:
            self._on_suback(suback_codes(body, v5=v5))
        elif first == PINGRESP:
            return
        elif first == DISCONNECT and v5:
            code = body[0] if body else 0
            raise BrokerRefused(f"broker sent DISCONNECT: {reason_text(first, code, v5=v5)}")
        else:
            raise MalformedPacket(f"unexpected packet type 0x{first:02x}")

    def _on_suback(self, codes: bytes) -> None:
        if len(codes) != len(self._filters):
            raise MalformedPacket(f"SUBACK has {len(codes)} codes for {len(self._filters)} filters")
        for topic_filter, code in zip(self._filters, codes, strict=True):
            if refused(code):
                log.error(
                    "broker refused ingest subscription",
                    extra={
                        "filter": topic_filter,
                        "reason": reason_text(SUBACK, code, v5=self._v5),
                    },
                )
        log.info(
            "ingest subscribed",
            extra={"broker": self.endpoint, "filters": self._filters, "v5": self._v5},
        )
        self.subscribed.set()
