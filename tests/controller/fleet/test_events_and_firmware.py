"""Events into alarms (historical ones do not move live alarms), firmware alarms, ack."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from controller.core.settings import Settings
from tests.controller.conftest import World
from tests.controller.messages import BoxSpeaker
from tests.controller.seed import ingest_messages


def test_events_raise_and_clear_and_ack(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=2, firmware="V5.5.0")])
    fault = {"type": "quality_fault", "slot": 1, "fault": "occlusion", "state": "raised"}
    ingest_messages(
        engine,
        settings,
        [
            box.event(fault),
            box.event(
                {
                    "type": "disk_pressure",
                    "path": "/rec",
                    "free_percent": 4,
                    "threshold_percent": 10,
                    "state": "raised",
                }
            ),
            box.event({**fault, "slot": 2}, historical=True),
        ],
    )
    ops = world.headers("ops")
    active = client.get("/api/v1/alarms", params={"active": True}, headers=ops).json()["items"]
    kinds = sorted((a["type"], a["slot"]) for a in active)
    assert kinds == [
        ("disk_pressure", None),
        ("firmware_outdated", 1),
        ("firmware_outdated", 2),
        ("firmware_vulnerable", 1),
        ("firmware_vulnerable", 2),
        ("quality_occlusion", 1),
    ]
    occlusion = next(a for a in active if a["type"] == "quality_occlusion")
    acked = client.post(
        f"/api/v1/alarms/{occlusion['id']}/ack", json={"note": "vendor notified"}, headers=ops
    ).json()
    assert acked["acknowledged"] and acked["active"] and acked["ack_note"] == "vendor notified"
    assert acked["acked_by"] == "ops"

    ingest_messages(engine, settings, [box.event({**fault, "state": "cleared"})])
    history = client.get(
        "/api/v1/alarms", params={"type": "quality_occlusion"}, headers=ops
    ).json()["items"]
    assert len(history) == 1 and not history[0]["active"] and history[0]["acknowledged"]
    # Raised again after clearing: a new alarm, the old one stays in the history.
    ingest_messages(engine, settings, [box.event(fault)])
    again = client.get("/api/v1/alarms", params={"type": "quality_occlusion"}, headers=ops).json()
    assert again["total"] == 2
