"""Heavy traffic both ways over one TLS link: the connection must survive it.

The box publishes from its own threads while the broker streams messages to it. If paho
wrote from the publishing threads while the loop thread read, two threads would share one
OpenSSL connection, and the link could drop mid-stream with the will published.
"""

from __future__ import annotations

import itertools
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import BrokerSettings
from agent.link.client import LinkCallbacks, MqttLink
from agent.link.clock import SystemClock
from protocol.topics import Kind, topic
from tests.agent.link.conftest import BOX, wait_until
from tests.fixtures.broker import SECURE_USERS
from tests.harness.mosquitto import MosquittoBroker

pytestmark = pytest.mark.timeout(90)
EACH_WAY = 3000
PUBLISHERS = 2
PAYLOAD = b"x" * 2048


def _controller(broker: MosquittoBroker) -> mqtt.Client:
    assert broker.pki is not None
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="traffic-controller")
    client.username_pw_set("controller", SECURE_USERS["controller"])
    client.tls_set(ca_certs=str(broker.pki.ca_file), cert_reqs=ssl.CERT_REQUIRED)
    client.connect("127.0.0.1", broker.port, keepalive=10)
    client.loop_start()
    return client


def test_publishing_threads_and_incoming_stream_share_one_tls_link(
    tmp_path: Path, secure_broker: MosquittoBroker
) -> None:
    assert secure_broker.pki is not None
    secret = tmp_path / "broker-password"
    secret.write_text(SECURE_USERS[BOX] + "\n")
    secret.chmod(0o600)
    settings = BrokerSettings(
        url=secure_broker.url,
        ca_file=secure_broker.pki.ca_file,
        password_file=secret,
        keepalive_s=10,
        reconnect_max_s=1,
    )
    inbound = topic(Kind.COMMAND_REQUEST, BOX)
    received: list[bytes] = []
    acked: set[int] = set()
    lock = threading.Lock()

    def on_message(_topic: str, payload: bytes) -> None:
        with lock:
            received.append(payload)

    def on_publish(mid: int) -> None:
        with lock:
            acked.add(mid)

    callbacks = LinkCallbacks(
        will=lambda _s: (topic(Kind.STATE, BOX), b"gone"),
        on_message=on_message,
        on_publish=on_publish,
    )
    sessions = itertools.count(1)
    link = MqttLink(
        BOX, settings, callbacks, next_session=lambda: next(sessions), clock=SystemClock()
    )
    link.start()
    controller = _controller(secure_broker)
    try:
        wait_until(lambda: link.connected, what="the TLS link")
        link.subscribe([inbound])
        wait_until(lambda: link._subscribing == {}, what="the SUBACK")
        sent: list[int] = []

        def publish_many() -> None:
            for _ in range(EACH_WAY // PUBLISHERS):
                mid = link.publish(topic(Kind.EVENT, BOX), PAYLOAD, qos=1, retain=False)
                assert mid is not None, "the link went down while publishing"
                with lock:
                    sent.append(mid)

        threads = [threading.Thread(target=publish_many) for _ in range(PUBLISHERS)]
        for thread in threads:
            thread.start()
        for _ in range(EACH_WAY):
            controller.publish(inbound, PAYLOAD, qos=1)
        for thread in threads:
            thread.join(60)
        wait_until(lambda: len(received) == EACH_WAY, 30, "every message to the box")
        wait_until(lambda: acked >= set(sent), 30, "a PUBACK for every message from the box")
        assert len(sent) == EACH_WAY
        assert (link.state.connects, link.state.reconnects) == (1, 0)
    finally:
        controller.loop_stop()
        controller.disconnect()
        link.stop()
