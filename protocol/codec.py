"""The only way a message becomes bytes and bytes become a message."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

from pydantic import ValidationError

from protocol.base import SCHEMA_VERSION, Envelope
from protocol.commands import CommandReply, CommandRequest
from protocol.config import ConfigDesired, ConfigReported
from protocol.errors import ProtocolError
from protocol.events import Event
from protocol.jobs import JobProgress, JobRequest
from protocol.presence import Birth, BoxState
from protocol.status import CameraStatus, Telemetry
from protocol.topics import Delivery, Kind, TopicInfo, delivery, parse_topic, topic

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_TYPES",
    "Message",
    "decode",
    "delivery_for",
    "encode",
    "topic_for",
]

MAX_PAYLOAD_BYTES = 1024 * 1024

Message: TypeAlias = (
    Birth
    | BoxState
    | CameraStatus
    | Telemetry
    | Event
    | ConfigDesired
    | ConfigReported
    | CommandRequest
    | CommandReply
    | JobRequest
    | JobProgress
)

MESSAGE_TYPES: dict[Kind, type[Envelope]] = {
    Kind.BIRTH: Birth,
    Kind.STATE: BoxState,
    Kind.CAMERA_STATUS: CameraStatus,
    Kind.TELEMETRY: Telemetry,
    Kind.EVENT: Event,
    Kind.CONFIG_DESIRED: ConfigDesired,
    Kind.CONFIG_REPORTED: ConfigReported,
    Kind.COMMAND_REQUEST: CommandRequest,
    Kind.COMMAND_REPLY: CommandReply,
    Kind.JOB_REQUEST: JobRequest,
    Kind.JOB_PROGRESS: JobProgress,
}

# Top-level scalar fields worth handing back when a payload is refused, so a receiver can
# still answer the request it could not read (e.g. an error reply to a bad command).
_HINT_FIELDS = ("kind", "box_id", "request_id", "job_id", "reply_to", "version", "schema")


def encode(message: Envelope) -> bytes:
    """Compact UTF-8 JSON of a message, field names as on the wire."""
    if type(message) not in MESSAGE_TYPES.values():
        raise TypeError(f"{type(message).__name__} is not a schoolcam message")
    data = message.model_dump_json(by_alias=True, exclude_none=False).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("oversize", f"encoded {message.kind} is {len(data)} bytes")
    return data


def topic_for(message: Envelope) -> str:
    """The topic `message` is published on."""
    kind = Kind(message.kind)
    return topic(kind, message.box_id, getattr(message, "slot", None))


def delivery_for(message: Envelope) -> Delivery:
    """QoS and retain flag for `message`."""
    return delivery(Kind(message.kind))


def decode(topic_name: str, payload: bytes | bytearray | memoryview | str) -> Message:
    """Parse and validate a payload received on `topic_name`.

    Raises ProtocolError, and nothing else, for anything that is not a valid message of the
    kind that topic carries, for the box that topic names.
    """
    try:
        return _decode(topic_name, payload)
    except ProtocolError:
        raise
    except Exception as exc:  # the promise: nothing but ProtocolError escapes
        raise ProtocolError("invalid", f"{type(exc).__name__}: {exc}") from exc


def _decode(topic_name: str, payload: bytes | bytearray | memoryview | str) -> Message:
    info = parse_topic(topic_name)
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("oversize", f"payload is {len(raw)} bytes, limit {MAX_PAYLOAD_BYTES}")
    model = MESSAGE_TYPES[info.kind]
    fast = _validate_fast(model, raw, info)
    if fast is not None:
        return fast
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"payload is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", f"payload must be a JSON object, not {type(data).__name__}")
    hint = {k: data[k] for k in _HINT_FIELDS if isinstance(data.get(k), str | int)}
    nested = data.get("command")
    if isinstance(nested, dict) and isinstance(nested.get("name"), str):
        hint["command_name"] = nested["name"]
    if data.get("schema") != SCHEMA_VERSION:
        raise _refuse(
            "unsupported_schema", f"schema {data.get('schema')!r}, expected {SCHEMA_VERSION}", hint
        )
    if data.get("kind") != info.kind.value:
        raise _refuse("wrong_kind", f"kind {data.get('kind')!r} on a {info.kind.value} topic", hint)
    if data.get("box_id") != info.box_id:
        raise _refuse(
            "box_mismatch",
            f"payload box_id {data.get('box_id')!r} differs from topic box {info.box_id!r}",
            hint,
        )
    try:
        message = model.model_validate(data)
    except ValidationError as exc:
        raise _refuse("invalid", _describe(exc), hint) from exc
    if info.slot is not None and getattr(message, "slot", None) != info.slot:
        raise _refuse(
            "slot_mismatch",
            f"payload slot {getattr(message, 'slot', None)!r} differs from topic slot {info.slot}",
            hint,
        )
    return message  # type: ignore[return-value]


def _validate_fast(model: type[Envelope], raw: bytes, info: TopicInfo) -> Message | None:
    """The common case in one pass: pydantic's own JSON parser validates the bytes directly.

    A well-formed message costs a third of `json.loads` plus `model_validate`. Anything this
    does not accept (None) takes the careful path, which names the reason and keeps the hints;
    so it accepts only what that path would: schema and kind present, not defaulted, and the
    box and slot those of the topic.
    """
    try:
        message = model.model_validate_json(raw)
    except ValueError:  # ValidationError, or anything else the careful path will name
        return None
    explicit = message.model_fields_set
    if "schema_version" not in explicit or "kind" not in explicit:
        return None
    if getattr(message, "box_id", None) != info.box_id:
        return None
    if info.slot is not None and getattr(message, "slot", None) != info.slot:
        return None
    return message  # type: ignore[return-value]


def _refuse(reason: str, message: str, hint: dict[str, Any]) -> ProtocolError:
    error = ProtocolError(reason, message)
    error.hint = hint
    return error


def _describe(exc: ValidationError) -> str:
    """'path.to.field: message' for each problem, so the sender can find it."""
    parts = []
    for err in exc.errors()[:10]:
        path = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{path}: {err['msg']}")
    more = exc.error_count() - 10
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)
