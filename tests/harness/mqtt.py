"""A plain paho client for tests: connect, subscribe, collect what arrives."""

from __future__ import annotations

import queue
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["TestClient"]


class TestClient:
    """A connected paho client (MQTT 5) that queues every message it receives."""

    __test__ = False

    def __init__(
        self,
        port: int,
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connect_result: ReasonCode | None = None
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise TimeoutError("MQTT connect did not complete")

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _props: object,
    ) -> None:
        self.connect_result = reason
        self._connected.set()

    @property
    def accepted(self) -> bool:
        return self.connect_result is not None and not self.connect_result.is_failure

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe(topic_filter, qos=qos)
        if not done.wait(10):
            raise TimeoutError(f"no SUBACK for {topic_filter}")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker has it (PUBACK at QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)

    def next_message(self, timeout: float = 10.0) -> mqtt.MQTTMessage:
        """The next message received, or queue.Empty after `timeout`."""
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
