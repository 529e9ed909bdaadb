"""encode/decode: every example round-trips; every kind of bad input is a ProtocolError."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from protocol import (
    MAX_PAYLOAD_BYTES,
    Birth,
    CommandReply,
    Kind,
    ProtocolError,
    StreamStats,
    decode,
    encode,
    topic,
    topic_for,
)
from protocol.examples import examples

ALL_EXAMPLES = [(kind, i, msg) for kind, msgs in examples().items() for i, msg in enumerate(msgs)]


def _ids() -> list[str]:
    return [f"{kind.value}-{i}" for kind, i, _ in ALL_EXAMPLES]


@pytest.mark.parametrize(("kind", "index", "message"), ALL_EXAMPLES, ids=_ids())
def test_examples_round_trip(kind: Kind, index: int, message: Any) -> None:
    data = encode(message)
    back = decode(topic_for(message), data)
    assert back == message
    assert back.kind == kind
    assert json.loads(data)["schema"] == 1


def test_every_kind_has_an_example() -> None:
    assert {kind for kind, _, _ in ALL_EXAMPLES} == set(Kind)


def _birth_dict() -> dict[str, Any]:
    return json.loads(encode(examples()[Kind.BIRTH][0]))


BIRTH_TOPIC = topic(Kind.BIRTH, "mh-0001-a")


def _refusal(topic_name: str, payload: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(topic_name, payload)
    return caught.value


def test_bad_json() -> None:
    assert _refusal(BIRTH_TOPIC, b"{not json").reason == "bad_json"
    assert _refusal(BIRTH_TOPIC, b"\xff\xfe").reason == "bad_json"
    assert _refusal(BIRTH_TOPIC, b"[1, 2]").reason == "bad_json"
    assert _refusal(BIRTH_TOPIC, b"[" * 100_000).reason in {"bad_json", "invalid"}


def test_wrong_kind_for_topic() -> None:
    error = _refusal(topic(Kind.TELEMETRY, "mh-0001-a"), json.dumps(_birth_dict()))
    assert error.reason == "wrong_kind"
    assert "birth" in str(error)


def test_box_in_payload_must_match_topic() -> None:
    error = _refusal(topic(Kind.BIRTH, "mh-0002-a"), json.dumps(_birth_dict()))
    assert error.reason == "box_mismatch"
    assert "mh-0001-a" in str(error) and "mh-0002-a" in str(error)


def test_camera_slot_must_match_topic() -> None:
    status = examples()[Kind.CAMERA_STATUS][0]
    error = _refusal(topic(Kind.CAMERA_STATUS, "mh-0001-a", 9), encode(status))
    assert error.reason == "slot_mismatch"


def test_oversize_payload() -> None:
    data = _birth_dict()
    data["software_version"] = "x" * (MAX_PAYLOAD_BYTES + 1)
    assert _refusal(BIRTH_TOPIC, json.dumps(data)).reason == "oversize"


def test_unknown_schema_version() -> None:
    data = _birth_dict() | {"schema": 2}
    error = _refusal(BIRTH_TOPIC, json.dumps(data))
    assert error.reason == "unsupported_schema"


@pytest.mark.parametrize(
    ("field", "reason"), [("schema", "unsupported_schema"), ("kind", "wrong_kind")]
)
@pytest.mark.parametrize(("kind", "index", "message"), ALL_EXAMPLES)
def test_schema_and_kind_must_be_sent_not_defaulted(
    field: str, reason: str, kind: Kind, index: int, message: Any
) -> None:
    """The models default both fields, so a payload that leaves one out would validate;
    the wire still requires them."""
    data = json.loads(encode(message))
    del data[field]
    assert _refusal(topic_for(message), json.dumps(data)).reason == reason


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"seq": -1}, "seq"),
        ({"session": "soon"}, "session"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"sent_at": "2026-09-01T07:30:00"}, "sent_at"),
        ({"boot_id": "has space"}, "boot_id"),
    ],
)
def test_out_of_range_values_name_the_field(change: dict[str, Any], path: str) -> None:
    error = _refusal(BIRTH_TOPIC, json.dumps(_birth_dict() | change))
    assert error.reason == "invalid"
    assert path in str(error)


def test_nested_field_path_is_reported() -> None:
    data = _birth_dict()
    data["cameras"][0]["slot"] = 99
    error = _refusal(BIRTH_TOPIC, json.dumps(data))
    assert "cameras.0.slot" in str(error)


def test_duplicate_slots_are_refused() -> None:
    data = _birth_dict()
    data["cameras"] = data["cameras"] * 2
    assert "unique" in str(_refusal(BIRTH_TOPIC, json.dumps(data)))


def test_refusal_hands_back_the_request_id_for_an_error_reply() -> None:
    request = json.loads(encode(examples()[Kind.COMMAND_REQUEST][0]))
    request["command"] = {"name": "self_destruct", "slot": 1}
    error = _refusal(topic(Kind.COMMAND_REQUEST, "mh-0001-a"), json.dumps(request))
    assert error.reason == "invalid"
    assert error.hint["request_id"] == "r-5d1c"


def test_timestamps_are_normalised_to_utc() -> None:
    data = _birth_dict() | {"sent_at": "2026-09-01T15:30:00+08:00"}
    birth = decode(BIRTH_TOPIC, json.dumps(data))
    assert isinstance(birth, Birth)
    assert birth.sent_at == datetime(2026, 9, 1, 7, 30, tzinfo=UTC)
    assert birth.sent_at.utcoffset() == timedelta(0)


def test_a_camera_that_lies_about_hd_is_refused() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        StreamStats(
            codec="h264",
            width=640,
            height=360,
            fps=25,
            bitrate_kbps=512,
            hd=True,
            browser_playable=True,
        )


def test_reply_is_result_or_error() -> None:
    with pytest.raises(ValueError):
        CommandReply(box_id="mh-0001-a", boot_id="b", seq=1, request_id="r", ok=True)


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(TypeError):
        encode(
            StreamStats(
                codec="h264",
                width=1920,
                height=1080,
                fps=25,
                bitrate_kbps=1,
                hd=True,
                browser_playable=True,
            )  # type: ignore[arg-type]
        )
