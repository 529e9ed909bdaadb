"""Recording completeness per camera and in the summary; firmware alarms from the profiles."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from controller.core.settings import Settings
from controller.fleet.cache import SummaryCache
from controller.fleet.models import FleetSummary
from protocol import CameraState
from tests.controller.conftest import World
from tests.controller.messages import BoxSpeaker
from tests.controller.seed import ingest_messages


def test_completeness_per_camera_and_in_the_summary(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    a = BoxSpeaker("mh-0001-a", school="mh-0001")
    b = BoxSpeaker("mh-0002-a", school="mh-0002")
    b.tick(-2 * 86400)  # b was last heard the day before yesterday
    first = a.status(1).model_copy(update={"completeness": 0.9})
    second = a.status(2, CameraState.OFFLINE).model_copy(update={"completeness": 0.5})
    b_status = b.status(1).model_copy(update={"completeness": 1.0})
    ingest_messages(
        engine, settings, [a.birth(slots=3), b.birth(slots=1), first, second, a.status(3)]
    )
    ingest_messages(engine, settings, [b_status])
    ops = world.headers("ops")
    camera = client.get("/api/v1/boxes/mh-0001-a/cameras/1", headers=ops).json()
    assert camera["completeness"] == 0.9
    summary = client.get("/api/v1/fleet/summary", headers=ops).json()
    # Slot 3 reports none; b's box is online, so its own figure is the truth.
    assert summary["completeness_cameras"] == 3
    assert summary["recording_completeness"] == round((0.9 + 0.5 + 1.0) / 3, 4)

    ingest_messages(engine, settings, [b.state("offline", reason="connection_lost")])
    summary = client.get("/api/v1/fleet/summary", headers=ops).json()
    # b's camera has recorded nothing today: it was last heard before today.
    assert summary["recording_completeness"] == round((0.9 + 0.5) / 3, 4)
    mine = client.get("/api/v1/fleet/summary", headers=world.headers("school_a")).json()
    assert mine["completeness_cameras"] == 2 and mine["recording_completeness"] == 0.7

    # A heartbeat with a new figure is a change that lands.
    a.tick(60)
    ingest_messages(engine, settings, [a.status(1).model_copy(update={"completeness": 0.95})])
    camera = client.get("/api/v1/boxes/mh-0001-a/cameras/1", headers=ops).json()
    assert camera["completeness"] == 0.95


def test_summary_cache_serves_within_its_ttl_per_key() -> None:
    now = [100.0]
    cache = SummaryCache(2.0, clock=lambda: now[0])
    computed: list[int] = []

    def compute() -> FleetSummary:
        computed.append(1)
        n = len(computed)
        return FleetSummary(
            boxes_total=n, boxes_online=n, boxes_offline=0, cameras_total=0, cameras_online=0,
            cameras_offline=0, online_rate=None, hd_cameras=0, hd_rate=None,
            quality_fault_cameras=0, cameras_recording=0, recording_rate=None,
            completeness_cameras=0, recording_completeness=None,
        )  # fmt: skip

    assert cache.get("ops", compute).boxes_total == 1
    now[0] += 1.9
    assert cache.get("ops", compute).boxes_total == 1
    assert cache.get("school-1", compute).boxes_total == 2  # another scope, its own entry
    now[0] += 0.2
    assert cache.get("ops", compute).boxes_total == 3
    assert SummaryCache(0).get("ops", compute).boxes_total == 4  # ttl 0: never remembered


def test_firmware_alarms_follow_the_profiles(
    client: TestClient, engine: Engine, settings: Settings, world: World
) -> None:
    box = BoxSpeaker("mh-0001-a", school="mh-0001")
    birth = box.birth(slots=4)
    cams = birth.cameras
    cams[0] = cams[0].model_copy(update={"firmware": "V5.4.0 build 160530"})  # old, 2 CVEs
    cams[1] = cams[1].model_copy(update={"firmware": "V5.5.0 build 200101"})  # below min
    cams[2] = cams[2].model_copy(update={"profile": "no-such-profile", "firmware": "1.0"})
    cams[3] = cams[3].model_copy(update={"firmware": "unknown"})  # unreadable: no verdict
    ingest_messages(engine, settings, [birth.model_copy(update={"cameras": cams})])
    active = client.get(
        "/api/v1/alarms", params={"active": True}, headers=world.headers("ops")
    ).json()["items"]
    assert sorted((a["type"], a["slot"]) for a in active) == [
        ("firmware_outdated", 1),
        ("firmware_outdated", 2),
        ("firmware_vulnerable", 1),
        ("firmware_vulnerable", 2),
    ]
    vulnerable = next(a for a in active if a["type"] == "firmware_vulnerable" and a["slot"] == 1)
    assert "CVE-2017-7921" in vulnerable["message"] and "CVE-2021-36260" in vulnerable["message"]
    outdated = next(a for a in active if a["type"] == "firmware_outdated")
    assert "V5.5.800 build 210628" in outdated["message"]

    box.tick(timedelta(hours=1).total_seconds())
    box.session += 1
    ingest_messages(engine, settings, [box.birth(slots=4, firmware="V5.7.3 build 230301")])
    active = client.get(
        "/api/v1/alarms", params={"active": True}, headers=world.headers("ops")
    ).json()
    assert active["total"] == 0
