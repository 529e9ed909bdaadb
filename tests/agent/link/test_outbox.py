"""The outbox: durable, ordered, bounded with a counted drop policy; replay after outages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.link import LinkService
from agent.link.outbox import Outbox, OutboxFull
from protocol import CameraConnectivityEvent, CameraState, Kind
from tests.agent.link.centre import Centre, dedupe
from tests.agent.link.conftest import agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline
from tests.harness.mosquitto import MosquittoBroker


def test_rows_survive_reopen_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_events=100, max_bytes=1 << 20)
    ids = [box.append("t", f"m{i}".encode()) for i in range(5)]
    box.ack(ids[:2])
    box.close()
    again = Outbox(tmp_path / "o.db", max_events=100, max_bytes=1 << 20)
    assert [r.payload for r in again.after(0, 10)] == [b"m2", b"m3", b"m4"]
    assert again.backlog == 3


def test_drop_oldest_is_counted_and_persisted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_events=100, max_bytes=1 << 20)
    for i in range(105):
        box.append("t", f"m{i}".encode())
    assert box.backlog == 100 and box.dropped == 5
    assert box.after(0, 1)[0].payload == b"m5"
    box.close()
    assert Outbox(tmp_path / "o.db", max_events=100, max_bytes=1 << 20).dropped == 5


def test_drop_newest_refuses_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_events=100, max_bytes=1 << 20, drop_policy="drop_newest")
    for i in range(100):
        box.append("t", f"m{i}".encode())
    with pytest.raises(OutboxFull):
        box.append("t", b"late")
    assert box.dropped == 1 and box.after(0, 200)[-1].payload == b"m99"


def _outage(tmp_path: Path, broker: MosquittoBroker, centre: Centre, seconds: float) -> None:
    pipeline = ScriptedPipeline(slots=[1, 2, 3, 4])
    service = LinkService(agent_config(tmp_path, broker.url))
    service.start(pipeline)
    centre.wait_for(lambda m: m.kind == Kind.BIRTH)
    sent = 0

    def flap(slot: int, down: bool) -> None:
        nonlocal sent
        kind = "camera_offline" if down else "camera_online"
        pipeline.set_state(slot, CameraState.OFFLINE if down else CameraState.ONLINE)
        service.sink.camera_changed(slot)
        service.sink.event(CameraConnectivityEvent(type=kind, slot=slot))
        sent += 1

    flap(1, True)
    broker.stop()
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:  # cameras fail and recover while the centre is unreachable
        flap(1 + i % 4, i % 8 < 4)
        i += 1
        time.sleep(min(0.5, seconds / 20))
    assert service.metrics()["outbox_backlog"] >= sent - 1
    broker.start()
    flap(2, False)  # a live one after the outage
    # duplicates (a PUBACK lost in the outage) must not count towards the total
    wait_until(
        lambda: len(dedupe(centre.of(Kind.EVENT))) >= sent, timeout=30, what=f"{sent} events"
    )
    unique = dedupe(centre.of(Kind.EVENT))
    assert len(unique) == sent
    seqs = [m.seq for m in unique]
    assert seqs == sorted(seqs), "events arrived out of order"
    assert any(m.historical for m in unique), "replays must be marked historical"
    assert service.metrics()["link_reconnects"] >= 1
    deadline = time.monotonic() + 10
    while service.metrics()["outbox_backlog"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.metrics()["outbox_backlog"] == 0
    service.stop()


@pytest.mark.fault
@pytest.mark.timeout(60)
def test_short_outage_replays_every_event_in_order(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    _outage(tmp_path, broker, centre, seconds=3)


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.timeout(240)
def test_two_minute_outage_replays_every_event_in_order(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    _outage(tmp_path, broker, centre, seconds=120)
