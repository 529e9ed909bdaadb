"""The controller's MQTT link: services publish through paho, ingest receives through a lean
subscriber of its own (`controller.ingest.receiver`, a second connection).

`publish(message)` takes a protocol model and derives topic, QoS and retain from `protocol`;
a refused connect is logged with its reason code, and the ingest subscription is renewed on
every (re)connect so a broker restart loses nothing but the time it was away.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from controller.ingest.receiver import IngestReceiver
from protocol import Envelope, delivery_for, encode, topic_for
from protocol.topics import controller_subscriptions, shared

__all__ = ["ControllerMqtt", "MessageSink", "Publisher"]

log = logging.getLogger(__name__)

MessageSink = Callable[[str, bytes], None]


class Publisher(Protocol):
    """What services need to send something to a box."""

    def publish(self, message: Envelope) -> bool: ...


class ControllerMqtt:
    """A paho client (MQTT 5, or 3.1.1 by setting) with its network loop on paho's own thread,
    plus the ingest receiver once `subscribe_ingest` is called."""

    def __init__(
        self,
        broker_url: str,
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        shared_group: str | None = None,
        protocol_version: str = "5",
    ) -> None:
        parts = urlsplit(broker_url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                f"broker URL must be mqtt://host:port or mqtts://host:port: {parts.scheme}"
            )
        self._host = parts.hostname
        self._port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._tls = parts.scheme == "mqtts"
        self._shared_group = shared_group
        self._client_id = client_id
        self._username, self._password = username, password
        self._ca_file = ca_file
        self._protocol_version = protocol_version
        self._receiver: IngestReceiver | None = None
        self._started = False
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311 if protocol_version == "3.1.1" else mqtt.MQTTv5,
        )
        self.client.max_queued_messages_set(100_000)
        if username is not None:
            self.client.username_pw_set(username, password)
        if self._tls:
            self.client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    @property
    def endpoint(self) -> str:
        return f"{'mqtts' if self._tls else 'mqtt'}://{self._host}:{self._port}"

    def subscribe_ingest(self, sink: MessageSink) -> None:
        """Deliver every box message (topic, payload) to `sink`, on the ingest receiver's thread."""
        if self._receiver is not None:
            self._receiver.sink = sink
            return
        filters = controller_subscriptions()
        if self._shared_group:
            filters = [shared(self._shared_group, f) for f in filters]
        self._receiver = IngestReceiver(
            self._host,
            self._port,
            filters=filters,
            sink=sink,
            client_id=f"{self._client_id}-ingest" if self._client_id else "",
            username=self._username,
            password=self._password,
            ssl_context=ssl.create_default_context(cafile=self._ca_file) if self._tls else None,
            protocol_version=self._protocol_version,
        )
        if self._started:
            self._receiver.start()

    def detach_ingest(self) -> None:
        """Stop handing messages to the ingest sink (what arrives from now on is dropped)."""
        if self._receiver is not None:
            self._receiver.sink = None

    def start(self, wait_s: float = 10.0) -> bool:
        """Connect and start the network loops; True once paho is connected and the ingest
        receiver (if any) has its SUBACK within `wait_s`."""
        log.info("connecting to broker", extra={"broker": self.endpoint})
        deadline = time.monotonic() + wait_s
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()
        self._started = True
        if self._receiver is not None:
            self._receiver.start()
        if not self.connected.wait(wait_s):
            return False
        receiver = self._receiver
        return receiver is None or receiver.subscribed.wait(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self._started = False
        if self._receiver is not None:
            self._receiver.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def publish(self, message: Envelope) -> bool:
        """Queue `message` with the QoS and retain flag the protocol fixes for its kind."""
        rule = delivery_for(message)
        info = self.client.publish(
            topic_for(message), encode(message), qos=rule.qos, retain=rule.retain
        )
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error(
                "publish refused",
                extra={"kind": message.kind, "box_id": message.box_id, "rc": info.rc},
            )
            return False
        return True

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            log.error("broker refused connection", extra={"reason": str(reason)})
            return
        log.info("connected to broker", extra={"broker": self.endpoint})
        self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        log.warning("disconnected from broker", extra={"reason": str(reason)})
