"""The controller's one MQTT client: ingest subscribes through it, services publish through it.

`publish(message)` takes a protocol model and derives topic, QoS and retain from `protocol`;
a refused connect is logged with its reason code, and subscriptions are renewed on every
(re)connect so a broker restart loses nothing but the time it was away.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from protocol import Envelope, delivery_for, encode, topic_for
from protocol.topics import controller_subscriptions, shared

__all__ = ["ControllerMqtt", "MessageSink", "Publisher"]

log = logging.getLogger(__name__)

MessageSink = Callable[[str, bytes], None]


class Publisher(Protocol):
    """What services need to send something to a box."""

    def publish(self, message: Envelope) -> bool: ...


class ControllerMqtt:
    """A paho client (MQTT 5, or 3.1.1 by setting) with its network loop on paho's own thread."""

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
        self._filters: list[str] = []
        self._sink: MessageSink | None = None
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
        self.client.on_message = self._on_message

    @property
    def endpoint(self) -> str:
        return f"{'mqtts' if self._tls else 'mqtt'}://{self._host}:{self._port}"

    def subscribe_ingest(self, sink: MessageSink) -> None:
        """Deliver every box message (topic, payload) to `sink`, on paho's thread."""
        self._sink = sink
        filters = controller_subscriptions()
        if self._shared_group:
            filters = [shared(self._shared_group, f) for f in filters]
        self._filters = filters
        if self.connected.is_set():
            self._subscribe()

    def detach_ingest(self) -> None:
        """Stop handing messages to the ingest sink (they stay with the broker's session)."""
        self._sink = None

    def start(self, wait_s: float = 10.0) -> bool:
        """Connect and start the network loop; True once connected within `wait_s`."""
        log.info("connecting to broker", extra={"broker": self.endpoint})
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()
        return self.connected.wait(wait_s)

    def stop(self) -> None:
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

    def _subscribe(self) -> None:
        for topic_filter in self._filters:
            self.client.subscribe(topic_filter, qos=1)
        log.info("subscribed", extra={"filters": self._filters})

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            log.error("broker refused connection", extra={"reason": str(reason)})
            return
        log.info("connected to broker", extra={"broker": self.endpoint})
        if self._filters:
            self._subscribe()
        self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        log.warning("disconnected from broker", extra={"reason": str(reason)})

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            sink(message.topic, bytes(message.payload))
        except Exception:  # one bad message must never kill the network loop
            log.exception("ingest sink failed", extra={"topic": message.topic})
