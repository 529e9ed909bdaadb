"""The real-broker harness, and the protocol crossing a real Mosquitto end to end."""

from __future__ import annotations

import queue

import pytest

from protocol import Birth, BoxState, Kind, decode, delivery_for, encode, topic, topic_for
from protocol.examples import examples
from protocol.topics import box_filter, controller_subscriptions
from tests.fixtures.broker import SECURE_USERS
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import TestClient


def test_birth_crosses_a_real_broker_and_decodes(broker: MosquittoBroker) -> None:
    subscriber = TestClient(broker.port, client_id="controller")
    publisher = TestClient(broker.port, client_id="mh-0001-a")
    try:
        for topic_filter in controller_subscriptions():
            subscriber.subscribe(topic_filter)
        birth = examples()[Kind.BIRTH][0]
        how = delivery_for(birth)
        publisher.publish(topic_for(birth), encode(birth), qos=how.qos, retain=how.retain)
        received = subscriber.next_message()
        message = decode(received.topic, received.payload)
        assert isinstance(message, Birth)
        assert message == birth
    finally:
        publisher.close()
        subscriber.close()


def test_broker_restart_keeps_retained_state(broker: MosquittoBroker) -> None:
    state = examples()[Kind.STATE][0]
    publisher = TestClient(broker.port, client_id="mh-0001-a")
    publisher.publish(topic_for(state), encode(state), qos=1, retain=True)
    publisher.close()
    broker.stop()
    assert not broker.running
    broker.start()
    late = TestClient(broker.port, client_id="late-subscriber")
    try:
        late.subscribe(box_filter(Kind.STATE))
        received = late.next_message()
        assert received.retain
        assert isinstance(decode(received.topic, received.payload), BoxState)
    finally:
        late.close()


def test_secure_broker_confines_each_box_to_its_subtree(secure_broker: MosquittoBroker) -> None:
    assert secure_broker.pki is not None
    ca = secure_broker.pki.ca_file
    controller = TestClient(
        secure_broker.port,
        client_id="controller",
        username="controller",
        password=SECURE_USERS["controller"],
        ca_file=ca,
    )
    box = TestClient(
        secure_broker.port,
        client_id="mh-0001-a",
        username="mh-0001-a",
        password=SECURE_USERS["mh-0001-a"],
        ca_file=ca,
    )
    try:
        controller.subscribe("#")
        box.subscribe(topic(Kind.CONFIG_DESIRED, "mh-0001-a"))
        birth = examples()[Kind.BIRTH][0]
        # Allowed: its own birth.
        box.publish(topic_for(birth), encode(birth))
        assert controller.next_message().topic == topic(Kind.BIRTH, "mh-0001-a")
        # Refused by the ACL: another box's subtree, and its own desired config.
        box.publish(topic(Kind.BIRTH, "mh-0002-a"), encode(birth))
        box.publish(topic(Kind.CONFIG_DESIRED, "mh-0001-a"), b"{}")
        with pytest.raises(queue.Empty):
            controller.next_message(timeout=1.0)
        # The controller may write a box's desired config, and the box reads it.
        desired = examples()[Kind.CONFIG_DESIRED][0]
        controller.publish(topic_for(desired), encode(desired))
        got = box.next_message()
        assert decode(got.topic, got.payload) == desired
    finally:
        box.close()
        controller.close()


def test_secure_broker_refuses_a_wrong_password(secure_broker: MosquittoBroker) -> None:
    assert secure_broker.pki is not None
    client = TestClient(
        secure_broker.port,
        client_id="mh-0001-a",
        username="mh-0001-a",
        password="wrong",
        ca_file=secure_broker.pki.ca_file,
    )
    try:
        assert not client.accepted
    finally:
        client.close()
