"""Fixtures for link tests: an agent config on the real broker, the centre's client, a link."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.config import AgentConfig
from agent.link import LinkService
from tests.agent.link.centre import Centre
from tests.agent.link.doubles import ScriptedPipeline
from tests.harness.mosquitto import MosquittoBroker

BOX = "mh-0001-a"


def agent_config(tmp_path: Path, broker_url: str, **extra: object) -> AgentConfig:
    """A small agent.yaml for box mh-0001-a with two cameras, pointing at `broker_url`."""
    raw: dict[str, object] = {
        "box_id": BOX,
        "school": "mh-0001",
        "storage": {"path": str(tmp_path / "box")},
        "broker": {"url": broker_url, "keepalive_s": 10, "reconnect_max_s": 1},
        "cameras": [
            {"slot": 1, "name": "Main gate, outside", "url": "rtsp://127.0.0.1:1/cam1"},
            {"slot": 2, "name": "Canteen kitchen", "url": "rtsp://127.0.0.1:1/cam2"},
        ],
        "outbox": {"drain_per_s": 2000},
    }
    raw.update(extra)
    return AgentConfig.model_validate(raw)


@pytest.fixture
def centre(broker: MosquittoBroker) -> Iterator[Centre]:
    client = Centre(broker.port)
    yield client
    client.close()


@pytest.fixture
def pipeline() -> ScriptedPipeline:
    return ScriptedPipeline()


@pytest.fixture
def link(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre, pipeline: ScriptedPipeline
) -> Iterator[LinkService]:
    service = LinkService(agent_config(tmp_path, broker.url))
    service.start(pipeline)
    yield service
    service.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll `predicate` every 50 ms until it holds; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what or predicate}")
        time.sleep(0.05)
