"""Commands: each happy path over the real broker, and every error reply."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.interfaces import Snapshot
from agent.link import LinkService
from agent.link.commands import fit_snapshot
from protocol import (
    CommandRequest,
    Kind,
    ProbeCommand,
    RecordingSearchCommand,
    SnapshotCommand,
    encode,
    topic,
)
from protocol.commands import MAX_SNAPSHOT_BASE64
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX
from tests.agent.link.doubles import ScriptedPipeline, jpeg

pytestmark = pytest.mark.timeout(60)


def _request(request_id: str, command: Any, deadline_s: float = 30) -> CommandRequest:
    return CommandRequest(
        box_id=BOX,
        request_id=request_id,
        reply_to=topic(Kind.COMMAND_REPLY, BOX),
        deadline=datetime.now(UTC) + timedelta(seconds=deadline_s),
        command=command,
    )


def _reply(centre: Centre, request_id: str) -> Any:
    return centre.wait_for(lambda m: m.kind == Kind.COMMAND_REPLY and m.request_id == request_id)[0]


def test_happy_paths(link: LinkService, centre: Centre) -> None:
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    centre.send(_request("snap-1", SnapshotCommand(slot=1)))
    snap = _reply(centre, "snap-1")
    assert snap.ok and base64.b64decode(snap.result.jpeg_base64)[:2] == b"\xff\xd8"
    centre.send(_request("probe-1", ProbeCommand(slot=2)))
    assert _reply(centre, "probe-1").result.reachable is True
    t0 = datetime(2026, 9, 1, 7, 0, tzinfo=UTC)
    search = RecordingSearchCommand(slot=1, start=t0, end=t0 + timedelta(hours=1))
    centre.send(_request("search-1", search))
    assert len(_reply(centre, "search-1").result.segments) == 1


def test_error_replies(link: LinkService, centre: Centre, pipeline: ScriptedPipeline) -> None:
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    req_topic = topic(Kind.COMMAND_REQUEST, BOX)

    centre.send(_request("late-1", SnapshotCommand(slot=1), deadline_s=-5))
    assert _reply(centre, "late-1").error.code == "deadline_expired"

    centre.send(_request("slot-9", SnapshotCommand(slot=9)))
    assert _reply(centre, "slot-9").error.code == "unknown_slot"

    from protocol import CameraState

    pipeline.set_state(2, CameraState.OFFLINE)
    centre.send(_request("off-2", SnapshotCommand(slot=2)))
    assert _reply(centre, "off-2").error.code == "camera_offline"

    raw = json.loads(encode(_request("unk-1", SnapshotCommand(slot=1))))
    raw["command"] = {"name": "self_destruct", "slot": 1}
    centre.send_raw(req_topic, json.dumps(raw).encode())
    assert _reply(centre, "unk-1").error.code == "unknown_command"

    raw["request_id"] = "bad-1"
    raw["command"] = {"name": "ptz_move", "slot": 1, "pan": 7}
    centre.send_raw(req_topic, json.dumps(raw).encode())
    assert _reply(centre, "bad-1").error.code == "bad_arguments"

    # foreign and unreadable messages: refused and counted, never a crash
    raw["request_id"] = "foreign-1"
    raw["box_id"] = "mh-0002-a"
    centre.send_raw(req_topic, json.dumps(raw).encode())
    centre.send_raw(req_topic, b"\xff\xfe garbage")
    centre.send(_request("after-1", ProbeCommand(slot=1)))
    assert _reply(centre, "after-1").ok  # still answering
    rejected = link.metrics()["rejected_messages"]
    assert rejected["box_mismatch"] == 1 and rejected["bad_json"] == 1
    assert not [m for m in centre.of(Kind.COMMAND_REPLY) if m.request_id == "foreign-1"]


def test_large_snapshot_is_re_encoded_to_fit() -> None:
    big = jpeg(1920, 1080, noise=True)
    assert len(base64.b64encode(big)) > MAX_SNAPSHOT_BASE64
    shot = Snapshot(slot=1, jpeg=big, width=1920, height=1080, taken_at=datetime.now(UTC))
    data, width, height = fit_snapshot(shot)
    assert len(base64.b64encode(data)) <= MAX_SNAPSHOT_BASE64 and data[:2] == b"\xff\xd8"
    assert width <= 1920 and height <= 1080
