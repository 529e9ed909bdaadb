"""Property tests: round-trips over generated messages; garbage only ever gives ProtocolError."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from protocol import Kind, ProtocolError, decode, encode, topic, topic_for
from protocol.examples import examples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT")
box_ids = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}[a-z0-9]\Z")


def _regenerate(node: Any, draw: Any, shift: timedelta) -> Any:
    """Same shape, new values near the old ones; names and enums kept, times moved together."""
    if isinstance(node, dict):
        return {k: v if k == "schema" else _regenerate(v, draw, shift) for k, v in node.items()}
    if isinstance(node, list):
        return [_regenerate(v, draw, shift) for v in node]
    if isinstance(node, bool):
        return draw(st.booleans())
    if isinstance(node, int):
        top = min(64, 2 * node) if node <= 64 else 2 * node
        return draw(st.integers(min_value=max(1, node // 2) if node else 0, max_value=top))
    if isinstance(node, float):
        return draw(st.floats(min_value=node / 2, max_value=node, allow_nan=False))
    if isinstance(node, str) and DATETIME.match(node):
        return (datetime.fromisoformat(node) + shift).isoformat()
    return node


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_generated_messages_round_trip(kind: Kind, data: st.DataObject) -> None:
    outcomes = []
    for original in examples()[kind]:
        shift = data.draw(
            st.timedeltas(min_value=-timedelta(days=3650), max_value=timedelta(days=3650))
        )
        payload = _regenerate(json.loads(encode(original)), data.draw, shift)
        payload["box_id"] = data.draw(box_ids)
        if kind is Kind.CAMERA_STATUS:
            payload["slot"] = data.draw(st.integers(min_value=1, max_value=64))
        name = topic(kind, payload["box_id"], payload.get("slot") if "slot" in payload else None)
        try:
            message = decode(name, json.dumps(payload))
        except ProtocolError:
            outcomes.append("refused")  # a cross-field rule (order of times, hd vs size...)
            continue
        assert decode(topic_for(message), encode(message)) == message
        outcomes.append("ok")
    event("all refused" if "ok" not in outcomes else "round-tripped")


@pytest.mark.parametrize("kind", list(Kind))
@settings(max_examples=150, deadline=None)
@given(
    path_choice=st.integers(min_value=0),
    action=st.sampled_from(["set", "drop", "add"]),
    value=json_values,
    key=st.text(max_size=12),
)
def test_mutated_messages_give_a_message_or_protocol_error(
    kind: Kind, path_choice: int, action: str, value: Any, key: str
) -> None:
    original = examples()[kind][0]
    data = json.loads(encode(original))
    paths = list(_paths(data))
    path = paths[path_choice % len(paths)]
    parent: Any = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "set":
        parent[last] = value
    elif action == "drop" and isinstance(parent, dict):
        del parent[last]
    elif isinstance(parent, dict):
        parent[key] = value
    with contextlib.suppress(ProtocolError):
        decode(topic_for(original), json.dumps(data))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=2048), kind=st.sampled_from(list(Kind)))
def test_random_bytes_give_protocol_error(payload: bytes, kind: Kind) -> None:
    slot = 1 if kind is Kind.CAMERA_STATUS else None
    with pytest.raises(ProtocolError):
        decode(topic(kind, "mh-0001-a", slot), payload)


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=80))
def test_random_topics_never_raise_anything_else(name: str) -> None:
    with contextlib.suppress(ProtocolError):
        decode(name, b"{}")
