"""Every MQTT topic of schoolcam is built and parsed here, and nowhere else.

The tree is `schoolcam/v1/{box_id}/...`. `box_id` is also the MQTT client id, the username
and the certificate CN, so a broker can confine each box to its own subtree with a pattern ACL
(`acl_patterns`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import ProtocolError

__all__ = [
    "BOX_ID_PATTERN",
    "MAX_SLOT",
    "ROOT",
    "Delivery",
    "Direction",
    "Kind",
    "TopicInfo",
    "acl_patterns",
    "agent_subscriptions",
    "box_filter",
    "controller_subscriptions",
    "delivery",
    "direction",
    "parse_topic",
    "shared",
    "topic",
    "topic_pattern",
    "validate_box_id",
    "validate_slot",
]

ROOT = "schoolcam/v1"
BOX_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_SLOT = 64


class Kind(StrEnum):
    """The message kinds; each has exactly one topic shape and one payload model."""

    BIRTH = "birth"
    STATE = "state"
    CAMERA_STATUS = "camera_status"
    TELEMETRY = "telemetry"
    EVENT = "event"
    CONFIG_DESIRED = "config_desired"
    CONFIG_REPORTED = "config_reported"
    COMMAND_REQUEST = "command_request"
    COMMAND_REPLY = "command_reply"
    JOB_REQUEST = "job_request"
    JOB_PROGRESS = "job_progress"


class Direction(StrEnum):
    """Who publishes a kind: the box (agent) or the centre (controller)."""

    FROM_BOX = "from_box"
    TO_BOX = "to_box"


@dataclass(frozen=True)
class Delivery:
    """How a kind travels: MQTT QoS and whether the broker retains it."""

    qos: int
    retain: bool


# Topic suffix under the box's root; "{slot}" marks the per-camera level.
_SUFFIX: dict[Kind, str] = {
    Kind.BIRTH: "birth",
    Kind.STATE: "state",
    Kind.CAMERA_STATUS: "camera/{slot}/status",
    Kind.TELEMETRY: "telemetry",
    Kind.EVENT: "event",
    Kind.CONFIG_DESIRED: "config/desired",
    Kind.CONFIG_REPORTED: "config/reported",
    Kind.COMMAND_REQUEST: "cmd/request",
    Kind.COMMAND_REPLY: "cmd/reply",
    Kind.JOB_REQUEST: "job/request",
    Kind.JOB_PROGRESS: "job/progress",
}

_DELIVERY: dict[Kind, Delivery] = {
    Kind.BIRTH: Delivery(qos=1, retain=False),
    Kind.STATE: Delivery(qos=1, retain=True),
    Kind.CAMERA_STATUS: Delivery(qos=1, retain=True),
    Kind.TELEMETRY: Delivery(qos=0, retain=False),
    Kind.EVENT: Delivery(qos=1, retain=False),
    Kind.CONFIG_DESIRED: Delivery(qos=1, retain=True),
    Kind.CONFIG_REPORTED: Delivery(qos=1, retain=True),
    Kind.COMMAND_REQUEST: Delivery(qos=1, retain=False),
    Kind.COMMAND_REPLY: Delivery(qos=1, retain=False),
    Kind.JOB_REQUEST: Delivery(qos=1, retain=False),
    Kind.JOB_PROGRESS: Delivery(qos=1, retain=False),
}

_TO_BOX = {Kind.CONFIG_DESIRED, Kind.COMMAND_REQUEST, Kind.JOB_REQUEST}

# Parsing table: tuple of suffix levels (slot as None) -> kind.
_BY_LEVELS: dict[tuple[str | None, ...], Kind] = {
    tuple(None if part == "{slot}" else part for part in suffix.split("/")): kind
    for kind, suffix in _SUFFIX.items()
}


@dataclass(frozen=True)
class TopicInfo:
    """What a topic says: whose box, which kind, and the camera slot where there is one."""

    box_id: str
    kind: Kind
    slot: int | None = None


def validate_box_id(box_id: str) -> str:
    """Return `box_id` if it is a legal box id (lowercase, digits, inner dashes; <= 64 chars)."""
    if not isinstance(box_id, str) or not BOX_ID_PATTERN.match(box_id):
        raise ProtocolError(
            "bad_topic",
            f"box_id {box_id!r} must be 1-64 characters of a-z, 0-9 and inner '-'",
        )
    return box_id


def validate_slot(slot: int) -> int:
    """Return `slot` if it is a camera slot number (1..MAX_SLOT)."""
    if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= MAX_SLOT:
        raise ProtocolError("bad_topic", f"slot {slot!r} must be an integer 1..{MAX_SLOT}")
    return slot


def topic(kind: Kind, box_id: str, slot: int | None = None) -> str:
    """The topic a message of `kind` for `box_id` (and camera `slot`) is published on."""
    suffix = _SUFFIX[Kind(kind)]
    validate_box_id(box_id)
    if "{slot}" in suffix:
        if slot is None:
            raise ProtocolError("bad_topic", f"{kind} needs a camera slot")
        suffix = suffix.replace("{slot}", str(validate_slot(slot)))
    elif slot is not None:
        raise ProtocolError("bad_topic", f"{kind} has no camera slot")
    return f"{ROOT}/{box_id}/{suffix}"


def box_filter(kind: Kind, box_id: str = "+") -> str:
    """A subscription filter for `kind`, for one box or (default) every box."""
    if box_id != "+":
        validate_box_id(box_id)
    suffix = _SUFFIX[Kind(kind)].replace("{slot}", "+")
    return f"{ROOT}/{box_id}/{suffix}"


def topic_pattern(kind: Kind) -> str:
    """The topic's shape for people, e.g. `schoolcam/v1/{box_id}/camera/{slot}/status`."""
    return f"{ROOT}/{{box_id}}/{_SUFFIX[Kind(kind)]}"


def shared(group: str, topic_filter: str) -> str:
    """Wrap a filter as an MQTT 5 shared subscription so replicas split the load."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", group):
        raise ProtocolError("bad_topic", f"shared-subscription group {group!r} is not a plain name")
    return f"$share/{group}/{topic_filter}"


def parse_topic(topic_name: str) -> TopicInfo:
    """Split a schoolcam topic into box, kind and slot; raise ProtocolError if it is not one."""
    if not isinstance(topic_name, str):
        raise ProtocolError("bad_topic", "topic must be a string")
    return _parse_topic(topic_name)


@functools.lru_cache(maxsize=1 << 17)
def _parse_topic(topic_name: str) -> TopicInfo:
    """Cached: a fleet repeats the same topics (box x camera x kind) all day; a refused topic
    raises and is not cached."""
    prefix = ROOT + "/"
    if not topic_name.startswith(prefix):
        raise ProtocolError("bad_topic", f"topic {topic_name!r} is not under {ROOT}/")
    parts = topic_name[len(prefix) :].split("/")
    box_id, levels = parts[0], parts[1:]
    validate_box_id(box_id)
    for shape, kind in _BY_LEVELS.items():
        if len(shape) != len(levels):
            continue
        slot: int | None = None
        for want, got in zip(shape, levels, strict=True):
            if want is None:
                if not got.isdigit() or got != str(int(got)):
                    break
                slot = validate_slot(int(got))
            elif want != got:
                break
        else:
            return TopicInfo(box_id=box_id, kind=kind, slot=slot)
    raise ProtocolError("bad_topic", f"topic {topic_name!r} names no schoolcam message")


def delivery(kind: Kind) -> Delivery:
    """QoS and retain flag for `kind`; publishers take them from here, never decide alone."""
    return _DELIVERY[Kind(kind)]


def direction(kind: Kind) -> Direction:
    """Whether `kind` is published by the box or sent to it."""
    return Direction.TO_BOX if Kind(kind) in _TO_BOX else Direction.FROM_BOX


def agent_subscriptions(box_id: str) -> list[str]:
    """The filters an agent subscribes to: only what is addressed to its own box."""
    return [topic(kind, box_id) for kind in _SUFFIX if kind in _TO_BOX]


def controller_subscriptions() -> list[str]:
    """The filters the controller's ingest subscribes to: everything every box publishes."""
    return [box_filter(kind) for kind in _SUFFIX if kind not in _TO_BOX]


def acl_patterns() -> list[tuple[str, str]]:
    """Mosquitto `pattern` ACL lines (access, pattern) confining a box to its own subtree.

    `%u` is the MQTT username, which is the box id. A box may write what it publishes and
    read what is sent to it, nothing else; it cannot write its own desired config.
    """
    rules: list[tuple[str, str]] = []
    for kind, suffix in _SUFFIX.items():
        pattern = f"{ROOT}/%u/{suffix.replace('{slot}', '+')}"
        rules.append(("read" if kind in _TO_BOX else "write", pattern))
    return rules
