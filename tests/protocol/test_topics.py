"""Topic building and parsing: the one place topic strings are made."""

from __future__ import annotations

import pytest

from protocol import Kind, ProtocolError, parse_topic, topic
from protocol.topics import (
    acl_patterns,
    agent_subscriptions,
    box_filter,
    controller_subscriptions,
    delivery,
    shared,
)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_round_trips_through_its_topic(kind: Kind) -> None:
    slot = 7 if kind is Kind.CAMERA_STATUS else None
    name = topic(kind, "mh-0001-a", slot)
    assert name.startswith("schoolcam/v1/mh-0001-a/")
    info = parse_topic(name)
    assert (info.box_id, info.kind, info.slot) == ("mh-0001-a", kind, slot)


@pytest.mark.parametrize(
    "bad",
    [
        "other/v1/mh-0001-a/birth",
        "schoolcam/v1/mh-0001-a/nonsense",
        "schoolcam/v1/MH-0001/birth",
        "schoolcam/v1/+/birth",
        "schoolcam/v1/mh-0001-a/camera/0/status",
        "schoolcam/v1/mh-0001-a/camera/65/status",
        "schoolcam/v1/mh-0001-a/camera/07/status",
        "schoolcam/v1/mh-0001-a/camera/x/status",
        "schoolcam/v1/mh-0001-a/birth/extra",
        "schoolcam/v1//birth",
        "schoolcam/v1/-a/birth",
    ],
)
def test_foreign_topics_are_refused(bad: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_topic(bad)
    assert caught.value.reason == "bad_topic"


def test_slot_is_required_exactly_where_the_topic_has_one() -> None:
    with pytest.raises(ProtocolError):
        topic(Kind.CAMERA_STATUS, "mh-0001-a")
    with pytest.raises(ProtocolError):
        topic(Kind.BIRTH, "mh-0001-a", 3)


def test_box_ids_cannot_smuggle_wildcards_or_levels() -> None:
    for bad in ["a/b", "a+", "#", "", "a" * 65, "Upper"]:
        with pytest.raises(ProtocolError):
            topic(Kind.BIRTH, bad)


def test_subscriptions_split_by_direction() -> None:
    mine = agent_subscriptions("mh-0001-a")
    assert set(mine) == {
        "schoolcam/v1/mh-0001-a/config/desired",
        "schoolcam/v1/mh-0001-a/cmd/request",
        "schoolcam/v1/mh-0001-a/job/request",
    }
    theirs = controller_subscriptions()
    assert "schoolcam/v1/+/camera/+/status" in theirs
    assert not any("desired" in f or "request" in f for f in theirs)
    assert shared("ingest", box_filter(Kind.EVENT)) == "$share/ingest/schoolcam/v1/+/event"
    with pytest.raises(ProtocolError):
        shared("bad/group", "x")


def test_acl_lets_a_box_write_only_what_it_publishes() -> None:
    rules = dict((pattern, access) for access, pattern in acl_patterns())
    assert rules["schoolcam/v1/%u/config/desired"] == "read"
    assert rules["schoolcam/v1/%u/event"] == "write"
    assert all(pattern.startswith("schoolcam/v1/%u/") for pattern in rules)


def test_delivery_policy() -> None:
    assert delivery(Kind.STATE).retain and delivery(Kind.STATE).qos == 1
    assert delivery(Kind.CAMERA_STATUS).retain
    assert delivery(Kind.TELEMETRY).qos == 0
    assert not delivery(Kind.EVENT).retain and delivery(Kind.EVENT).qos == 1
