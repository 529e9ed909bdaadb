"""Config push round trip: applied, rejected with reasons, malformed, and kept across restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.link import LinkService
from protocol import (
    BoxConfig,
    CameraConfig,
    ConfigDesired,
    ConfigIssue,
    Kind,
    ReportingConfig,
    encode,
    topic,
)
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import BOX, agent_config
from tests.agent.link.doubles import ScriptedPipeline
from tests.harness.mosquitto import MosquittoBroker

pytestmark = pytest.mark.timeout(60)


def _desired(version: int, **config: object) -> ConfigDesired:
    cams = [CameraConfig(slot=3, name="Playground", url="rtsp://10.0.0.3/main")]
    return ConfigDesired(
        box_id=BOX,
        version=version,
        config=BoxConfig.model_validate({"cameras": cams, **config}),
    )


def _reported(centre: Centre, version: int | None, status: str) -> object:
    return centre.wait_for(
        lambda m: (
            m.kind == Kind.CONFIG_REPORTED and m.desired_version == version and m.status == status
        )
    )[0]


def test_push_applies_rejects_and_survives_restart(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    pipeline = ScriptedPipeline()
    service = LinkService(agent_config(tmp_path, broker.url))
    service.start(pipeline)
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)

    centre.send(_desired(5, reporting=ReportingConfig(status_heartbeat_s=5)))
    applied = _reported(centre, 5, "applied")
    assert applied.applied_version == 5  # type: ignore[attr-defined]
    assert pipeline.applied[-1].cameras[0].slot == 3
    assert service.config_sync.applied.config.reporting.status_heartbeat_s == 5
    event = centre.wait_for(lambda m: m.kind == Kind.EVENT)[0]
    assert event.body.type == "config_applied" and event.body.version == 5

    # the pipeline refuses one: the running config stays, the reasons travel back
    pipeline.reject_next = [ConfigIssue(path="cameras.0.url", message="unsupported scheme")]
    centre.send(_desired(6))
    rejected = _reported(centre, 6, "rejected")
    assert rejected.applied_version == 5  # type: ignore[attr-defined]
    assert rejected.errors[0].path == "cameras.0.url"  # type: ignore[attr-defined]

    # a secret the box does not have is refused before the pipeline sees it
    cams = [CameraConfig(slot=1, name="Gate", url="rtsp://x/", password_ref="env:NO_SUCH_VAR_X")]
    centre.send(ConfigDesired(box_id=BOX, version=7, config=BoxConfig(cameras=cams)))
    assert "NO_SUCH_VAR_X" in _reported(centre, 7, "rejected").errors[0].message  # type: ignore[attr-defined]

    # a document for a newer schema: refused, counted, and its version still reported
    raw = json.loads(encode(_desired(8)))
    raw["config_schema"] = 2
    centre.send_raw(topic(Kind.CONFIG_DESIRED, BOX), json.dumps(raw).encode())
    _reported(centre, 8, "rejected")
    centre.send_raw(topic(Kind.CONFIG_DESIRED, BOX), b"{not json")
    centre.send_raw(topic(Kind.CONFIG_DESIRED, BOX), json.dumps({**raw, "schema": 9}).encode())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the refusals are handled off the network thread
        rejected_by = service.metrics()["rejected_messages"]
        if rejected_by.get("bad_json") and rejected_by.get("unsupported_schema"):
            break
        time.sleep(0.05)
    metrics = service.metrics()
    assert metrics["rejected_messages"]["invalid"] >= 1
    assert metrics["rejected_messages"]["bad_json"] == 1
    assert metrics["config_version"] == 5
    service.stop()

    # restart: the last good config (version 5) is run again before any push
    again = ScriptedPipeline()
    restarted = LinkService(agent_config(tmp_path, broker.url))
    restarted.start(again)
    assert again.applied and again.applied[0].cameras[0].slot == 3
    assert restarted.config_sync.applied.version == 5
    restarted.stop()
