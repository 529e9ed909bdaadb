"""The controller's side of the wire, for link tests: a real paho client that decodes.

Unlike tests.harness.mqtt.TestClient it subscribes again on every connect, so it keeps
listening across broker restarts.
"""

from __future__ import annotations

import itertools
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol import Message, ProtocolError, decode, encode, topic_for
from protocol.base import Envelope
from protocol.topics import Kind, box_filter

_ids = itertools.count(1)
ALL_KINDS = [
    Kind.BIRTH,
    Kind.STATE,
    Kind.CAMERA_STATUS,
    Kind.TELEMETRY,
    Kind.EVENT,
    Kind.CONFIG_REPORTED,
    Kind.COMMAND_REPLY,
    Kind.JOB_PROGRESS,
]


class Centre:
    """Subscribes to everything a box publishes and keeps it decoded, in arrival order.

    By default an anonymous MQTT 5 client; `v311=True` for a 3.1.1-only broker, and
    `username`/`password`, `ca_file` and `cert` (certificate, key) for a secured one.
    """

    def __init__(
        self,
        port: int,
        box_id: str = "+",
        *,
        v311: bool = False,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.received: list[Message] = []
        self.arrived: list[float] = []  # time.monotonic() of each received message, in step
        self.refused: list[ProtocolError] = []
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._filters = [box_filter(k, box_id) for k in ALL_KINDS]
        # A persistent session, so the broker keeps what arrives while this client is away
        # (it, too, reconnects after a broker restart), as the real ingest does.
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"centre-{next(_ids)}",
            protocol=mqtt.MQTTv311 if v311 else mqtt.MQTTv5,
            clean_session=False if v311 else None,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(
                ca_certs=str(ca_file),
                certfile=str(cert[0]) if cert else None,
                keyfile=str(cert[1]) if cert else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        if v311:
            self.client.connect("127.0.0.1", port, keepalive=10)
        else:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect(
                "127.0.0.1", port, keepalive=10, clean_start=False, properties=props
            )
        self.client.loop_start()
        if not self._ready.wait(10):
            self.close()
            raise AssertionError("centre did not subscribe")

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe([(f, 1) for f in self._filters])

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            try:
                self.received.append(decode(message.topic, message.payload))
                self.arrived.append(time.monotonic())
            except ProtocolError as exc:
                self.refused.append(exc)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = 10.0, count: int = 1
    ) -> list[Any]:
        """Wait until `count` received messages match; return the matching ones."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.received if predicate(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [m.kind for m in self.received][-20:]
                    raise AssertionError(f"waited {timeout} s for {count}; last kinds: {kinds}")
                self._cond.wait(left)

    def of(self, kind: Kind) -> list[Any]:
        with self._cond:
            return [m for m in self.received if m.kind == kind]

    def timed(self, kind: Kind) -> list[tuple[float, Any]]:
        """(arrival time, message) of every received message of `kind`, in arrival order."""
        with self._cond:
            pairs = zip(self.arrived, self.received, strict=True)
            return [(t, m) for t, m in pairs if m.kind == kind]

    def send(self, message: Envelope, *, retain: bool | None = None) -> None:
        from protocol import delivery_for

        d = delivery_for(message)
        keep = d.retain if retain is None else retain
        self.send_raw(topic_for(message), encode(message), retain=keep)

    def send_raw(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def dedupe(messages: list[Any]) -> list[Any]:
    """First copy of each (box_id, boot_id, seq), in arrival order, as the controller keeps."""
    seen: set[tuple[str, str, int]] = set()
    kept = []
    for m in messages:
        key = (m.box_id, m.boot_id, m.seq)
        if key not in seen:
            seen.add(key)
            kept.append(m)
    return kept
