"""Outbox flow control on a real broker: the drain rate, the cap on unacknowledged messages,
and live camera status going out promptly while a backlog replays."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.link import LinkService
from protocol import CameraConnectivityEvent, CameraState, Kind
from tests.agent.link.centre import Centre, dedupe
from tests.agent.link.conftest import agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline
from tests.agent.link.freeze import frozen
from tests.harness.mosquitto import MosquittoBroker


def _emit(service: LinkService, first: int, count: int) -> None:
    for i in range(first, first + count):
        service.sink.event(CameraConnectivityEvent(type="camera_offline", slot=2, reason=f"n{i}"))


def _busiest_second(times: list[float]) -> int:
    """Most arrivals within any 1 s window."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_backlog_drains_at_the_configured_rate_and_live_status_overtakes_it(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    rate, backlog = 250, 2000
    config = agent_config(tmp_path, broker.url, outbox={"drain_per_s": rate})
    pipeline = ScriptedPipeline()
    service = LinkService(config)
    _emit(service, 0, backlog)  # stored before the link exists, as after a long outage
    assert service.metrics()["outbox_backlog"] == backlog
    service.start(pipeline)
    try:
        centre.wait_for(lambda m: m.kind == Kind.EVENT, count=backlog // 3, timeout=20)
        changed = time.monotonic()  # a camera drops mid-replay
        pipeline.set_state(1, CameraState.OFFLINE, error="no packets for 10 s")
        service.sink.camera_changed(1)
        status = centre.wait_for(
            lambda m: m.kind == Kind.CAMERA_STATUS and m.slot == 1 and m.state == "offline",
            timeout=5,
        )[0]
        wait_until(
            lambda: len(dedupe(centre.of(Kind.EVENT))) >= backlog, timeout=30, what="the backlog"
        )
        wait_until(lambda: service.metrics()["outbox_backlog"] == 0, what="the PUBACKs")
    finally:
        service.stop()
    events = centre.timed(Kind.EVENT)
    assert [m.body.reason for m in dedupe([m for _, m in events])] == [
        f"n{i}" for i in range(backlog)
    ]
    assert all(m.historical for _, m in events)
    times = [t for t, _ in events]
    took = times[-1] - times[0]
    burst = rate / 4  # the token bucket's depth
    measured = (backlog - burst) / took
    busiest = _busiest_second(times)
    (status_at,) = [t for t, m in centre.timed(Kind.CAMERA_STATUS) if m is status]
    latency = status_at - changed
    behind = sum(1 for t in times if t > status_at)
    print(
        f"replay {backlog} in {took:.2f} s = {measured:.0f}/s (limit {rate}/s), busiest second "
        f"{busiest}; status {latency * 1000:.0f} ms after the change, {behind} events after it"
    )
    assert measured <= rate * 1.1, f"{measured:.0f}/s exceeds {rate}/s"
    assert measured >= rate * 0.5, f"{measured:.0f}/s: the replay stalled"
    assert busiest <= rate * 1.25 + burst
    assert latency < 2.0
    assert behind > backlog / 4, "the status waited for the backlog"


@pytest.mark.fault
@pytest.mark.timeout(60)
def test_unacknowledged_messages_stop_at_the_cap_while_the_broker_is_frozen(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    cap, count = 25, 120
    config = agent_config(
        tmp_path,
        broker.url,
        broker={"url": broker.url, "keepalive_s": 60, "reconnect_max_s": 1},
        outbox={"drain_per_s": 5000, "max_inflight": cap},
    )
    service = LinkService(config)
    service.start(ScriptedPipeline())
    seen: list[int] = []
    watching = threading.Event()

    def watch() -> None:  # sample the in-flight count as fast as the drainer can change it
        while not watching.is_set():
            seen.append(service.metrics()["outbox_inflight"])
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        centre.wait_for(lambda m: m.kind == Kind.BIRTH)
        watcher.start()
        with frozen(broker):
            for batch in range(4):  # events keep coming while nothing is acknowledged
                _emit(service, batch * count // 4, count // 4)
                time.sleep(0.3)
            wait_until(lambda: service.metrics()["outbox_inflight"] == cap, timeout=5)
            time.sleep(0.5)
            held = service.metrics()
            assert held["link_up"], "the freeze must stay shorter than the keepalive"
            assert held["outbox_inflight"] == cap and held["outbox_sent"] == cap
            assert held["outbox_backlog"] == count
        wait_until(
            lambda: len(dedupe(centre.of(Kind.EVENT))) >= count, timeout=20, what="all events"
        )
        wait_until(lambda: service.metrics()["outbox_backlog"] == 0, what="the PUBACKs")
    finally:
        watching.set()
        if watcher.is_alive():
            watcher.join(2)
        service.stop()
    assert max(seen) == cap, f"in flight peaked at {max(seen)}"
    unique = dedupe(centre.of(Kind.EVENT))
    assert [m.body.reason for m in unique] == [f"n{i}" for i in range(count)]
    assert service.metrics()["outbox_sent"] == count  # nothing sent twice on this connection


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.timeout(60)
def test_a_broker_frozen_past_the_keepalive_does_not_push_the_box_to_mqtt_311(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    config = agent_config(
        tmp_path,
        broker.url,
        broker={"url": broker.url, "keepalive_s": 5, "reconnect_max_s": 1},
        outbox={"drain_per_s": 5000, "max_inflight": 10},
    )
    service = LinkService(config)
    service.link.connack_timeout_s = 1.0
    service.start(ScriptedPipeline())
    protocols: list[str] = []
    try:
        centre.wait_for(lambda m: m.kind == Kind.BIRTH)
        with frozen(broker):
            _emit(service, 0, 30)
            wait_until(lambda: not service.metrics()["link_up"], timeout=15, what="the drop")
            deadline = time.monotonic() + 4  # a few CONNECTs go unanswered meanwhile
            while time.monotonic() < deadline:
                protocols.append(service.metrics()["link_protocol"])
                time.sleep(0.05)
        wait_until(lambda: service.metrics()["link_up"], timeout=10, what="the reconnect")
        wait_until(lambda: len(dedupe(centre.of(Kind.EVENT))) >= 30, timeout=15, what="events")
        wait_until(lambda: service.metrics()["outbox_backlog"] == 0, what="the PUBACKs")
        after = service.metrics()
    finally:
        service.stop()
    assert set(protocols) == {"5"}, "a broker that answered MQTT 5 once is not a 3.1.1 broker"
    assert after["link_protocol"] == "5" and after["link_reconnects"] >= 1
    assert [m.body.reason for m in dedupe(centre.of(Kind.EVENT))] == [f"n{i}" for i in range(30)]
