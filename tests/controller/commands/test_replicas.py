"""Two controller replicas sharing ingest (MQTT 5 shared subscription): a command's reply
reaches the replica that asked, because it also listens to that box's reply topic directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.core.settings import Settings
from controller.runtime import Controller
from tests.controller.commands.live import BOX, online_slot, running_fleet, wait_until
from tests.controller.conftest import World
from tests.harness.mosquitto import MosquittoBroker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture
def replicas(
    settings: Settings, engine: object, broker: MosquittoBroker, world: World, tmp_path: Path
) -> Iterator[list[Controller]]:
    shared = settings.model_copy(
        update={"broker_url": broker.url, "media_dir": tmp_path / "media", "shared_group": "ctl"}
    )
    running = [Controller(shared), Controller(shared)]
    try:
        for replica in running:
            assert replica.start(wait_s=10)
        yield running
    finally:
        for replica in running:
            replica.stop()


def test_every_reply_finds_the_replica_that_asked(
    replicas: list[Controller], broker: MosquittoBroker, world: World
) -> None:
    asking = TestClient(replicas[0].app)
    ops = world.headers("ops")
    with running_fleet(broker.url) as fleet:
        wait_until(
            lambda: asking.get(f"/api/v1/boxes/{BOX}", headers=ops).json().get("online") is True
        )
        slot = online_slot(fleet)
        for name in ("probe", "snapshot", "probe", "ptz_stop", "probe", "snapshot"):
            answer = asking.post(
                f"/api/v1/boxes/{BOX}/cameras/{slot}/commands",
                json={"name": name, "timeout_s": 3},
                headers=ops,
            )
            assert answer.status_code == 200, answer.text
    assert len(replicas[0].command_replies) == 0
