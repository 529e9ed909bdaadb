"""The embedded demo broker: paho clients connect, retained messages and Last Wills work."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocol import decode
from protocol.topics import Kind, box_filter
from simulator.broker import EmbeddedBroker
from simulator.fleet import FleetSettings, FleetSimulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    broker.start()
    yield broker
    broker.stop()


class _Client:
    """A paho MQTT 3.1.1 client with its network thread; queues what it receives."""

    def __init__(self, port: int, client_id: str, will: tuple[str, bytes] | None = None) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        connected = threading.Event()
        self.client.on_connect = lambda *_args: connected.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert connected.wait(10), "no CONNACK from the embedded broker"

    def subscribe(self, topic_filter: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe(topic_filter, qos=1)
        assert done.wait(10), "no SUBACK"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_picks_a_free_port_and_stops(embedded_broker: EmbeddedBroker) -> None:
    assert embedded_broker.port > 0
    assert embedded_broker.url == f"mqtt://127.0.0.1:{embedded_broker.port}"
    with socket.create_connection(("127.0.0.1", embedded_broker.port), timeout=2):
        pass
    embedded_broker.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", embedded_broker.port), timeout=2).close()


def test_retained_message_reaches_a_later_subscriber(embedded_broker: EmbeddedBroker) -> None:
    publisher = _Client(embedded_broker.port, "publisher")
    publisher.client.publish("demo/retained", b"kept", qos=1, retain=True).wait_for_publish(10)
    publisher.close()
    subscriber = _Client(embedded_broker.port, "subscriber")
    try:
        subscriber.subscribe("demo/#")
        message = subscriber.messages.get(timeout=10)
        assert (message.topic, message.payload, message.retain) == ("demo/retained", b"kept", True)
    finally:
        subscriber.close()


def test_a_newcomer_gets_only_the_retained_messages_of_its_own_filters(
    embedded_broker: EmbeddedBroker,
) -> None:
    """amqtt 0.12 sent a connecting client the retained messages of every client's filters."""
    centre = _Client(embedded_broker.port, "centre")
    centre.subscribe("demo/state/+")
    publisher = _Client(embedded_broker.port, "publisher")
    publisher.client.publish("demo/state/a", b"online", qos=1, retain=True).wait_for_publish(10)
    publisher.close()
    assert centre.messages.get(timeout=10).topic == "demo/state/a"
    newcomer = _Client(embedded_broker.port, "newcomer")
    try:
        newcomer.subscribe("demo/commands/b")
        with pytest.raises(queue.Empty):
            newcomer.messages.get(timeout=1.0)
        newcomer.subscribe("demo/state/+")  # its own filter: the retained state comes
        assert newcomer.messages.get(timeout=10).topic == "demo/state/a"
    finally:
        newcomer.close()
        centre.close()


def test_will_is_delivered_when_a_client_dies(embedded_broker: EmbeddedBroker) -> None:
    watcher = _Client(embedded_broker.port, "watcher")
    watcher.subscribe("demo/state")
    dying = _Client(embedded_broker.port, "dying", will=("demo/state", b"offline"))
    sock = dying.client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker must publish the will
    try:
        message = watcher.messages.get(timeout=10)
        assert (message.topic, message.payload) == ("demo/state", b"offline")
    finally:
        dying.client.loop_stop()
        watcher.close()


def test_mqtt5_is_refused(embedded_broker: EmbeddedBroker) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="v5", protocol=mqtt.MQTTv5)
    answered = threading.Event()
    codes: list[object] = []

    def on_connect(*args: object) -> None:
        codes.append(args[3])
        answered.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_args: answered.set()
    client.connect("127.0.0.1", embedded_broker.port)
    client.loop_start()
    try:
        answered.wait(10)
        assert not client.is_connected()
    finally:
        client.loop_stop()


def test_fleet_runs_on_the_embedded_broker(embedded_broker: EmbeddedBroker) -> None:
    watcher = _Client(embedded_broker.port, "centre")
    watcher.subscribe(box_filter(Kind.BIRTH))
    fleet = FleetSimulator(FleetSettings(schools=2, broker_url=embedded_broker.url, fault_rate=0))
    fleet.start()
    try:
        births = {decode(m.topic, m.payload).box_id for m in _take(watcher, 2)}
        assert births == {"sim-0001-a", "sim-0002-a"}
    finally:
        fleet.stop()
        watcher.close()


def _take(client: _Client, count: int) -> list[mqtt.MQTTMessage]:
    return [client.messages.get(timeout=10) for _ in range(count)]


def test_fifty_boxes_connecting_at_once_are_all_served(
    embedded_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """The demo's fleet connects all at once; no CONNECT may be dropped by a broker error."""
    watcher = _Client(embedded_broker.port, "centre")
    watcher.subscribe(box_filter(Kind.BIRTH))
    everything = _Client(embedded_broker.port, "everything")  # as the controller's ingest does
    everything.subscribe("#")
    url = embedded_broker.url
    early = FleetSimulator(FleetSettings(schools=10, prefix="early", broker_url=url, fault_rate=0))
    schools = 50
    fleet = FleetSimulator(FleetSettings(schools=schools, broker_url=url, fault_rate=0))
    early.start()
    try:
        _take(watcher, 10)  # their retained births and states are there for every newcomer
        fleet.start()
        births = {decode(m.topic, m.payload).box_id for m in _take(watcher, schools)}
        assert len(births) == schools
    finally:
        fleet.stop()
        early.stop()
        watcher.close()
        everything.close()
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert unhandled == [], unhandled[0].getMessage()
    dropped = [r for r in caplog.records if "cannot connect to the broker" in r.getMessage()]
    assert dropped == [], dropped[0].getMessage()
