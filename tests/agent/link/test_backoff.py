"""Reconnect backoff: exact growth and cap (unit), and a real broker's return (fault)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.link import LinkService
from agent.link.backoff import JITTER_LOW, Backoff
from protocol import Kind
from tests.agent.link.centre import Centre
from tests.agent.link.conftest import agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline
from tests.harness.mosquitto import MosquittoBroker


def test_delays_double_from_half_a_second_then_stay_at_the_cap() -> None:
    backoff = Backoff(cap_s=30, jitter=lambda: 1.0)
    delays = [backoff.next_delay(connected=False) for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert backoff.next_delay(connected=True) == 0.5  # a lost connection starts over
    assert backoff.next_delay(connected=False) == 1


def test_the_cap_is_reached_whatever_its_size() -> None:
    # 600 s is the configured maximum; doubling 0.5 s must still end exactly there
    backoff = Backoff(cap_s=600, jitter=lambda: 1.0)
    assert [backoff.nominal(n) for n in (9, 10, 11, 500)] == [256, 512, 600, 600]
    assert Backoff(cap_s=0.2, jitter=lambda: 1.0).nominal(0) == 0.2


def test_jitter_only_shortens_and_never_passes_the_cap() -> None:
    low = Backoff(cap_s=2, jitter=lambda: 0.0)  # out-of-range jitter is clamped
    high = Backoff(cap_s=2, jitter=lambda: 7.0)
    assert [low.next_delay(False) for _ in range(4)] == [
        1 * JITTER_LOW,
        2 * JITTER_LOW,
        2 * JITTER_LOW,
        2 * JITTER_LOW,
    ]
    assert [high.next_delay(False) for _ in range(4)] == [1, 2, 2, 2]
    real = Backoff(cap_s=2)
    assert JITTER_LOW <= real.next_delay(False) <= 1
    assert all(JITTER_LOW * 2 <= real.next_delay(False) <= 2 for _ in range(200))


def _attempt_delays(records: list[logging.LogRecord]) -> list[float]:
    """The exact waits the link logged before each connection attempt."""
    delays = []
    for r in records:
        if r.name == "agent.link.client" and r.msg == "MQTT link down; next attempt in %.1f s":
            assert isinstance(r.args, tuple) and isinstance(r.args[0], float)
            delays.append(r.args[0])
    return delays


@pytest.mark.slow
@pytest.mark.fault
@pytest.mark.timeout(40)
def test_after_a_long_outage_the_link_is_back_within_the_cap(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    cap = 2.0
    config = agent_config(
        tmp_path, broker.url, broker={"url": broker.url, "keepalive_s": 10, "reconnect_max_s": cap}
    )
    service = LinkService(config)
    service.start(ScriptedPipeline())
    try:
        centre.wait_for(lambda m: m.kind == Kind.BIRTH)
        caplog.set_level(logging.INFO, logger="agent.link.client")
        caplog.clear()
        broker.stop()
        time.sleep(8)  # 0.5 + 1 + 2 + 2 + 2 ...: several attempts at the cap
        down = service.metrics()
        assert not down["link_up"] and down["link_backoff_s"] is not None
        delays = _attempt_delays(caplog.records)
        back = time.monotonic()
        broker.start()
        wait_until(lambda: service.metrics()["link_connects"] == 2, timeout=cap + 5)
        took = time.monotonic() - back
    finally:
        service.stop()
    # the delays grow from 0.5 s, then stay within [0.8, 1] x cap
    assert len(delays) >= 5, delays
    assert delays[0] == pytest.approx(0.5, abs=0.15)
    assert all(d <= cap + 0.05 for d in delays), delays
    assert all(d >= JITTER_LOW * cap - 0.05 for d in delays[2:]), delays
    assert took <= cap + 1.0, f"back {took:.2f} s after the broker, cap {cap} s"
    print(f"delays {delays}; reconnected {took:.2f} s after the broker came back")
