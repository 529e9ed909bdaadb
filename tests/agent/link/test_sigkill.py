"""A SIGKILLed agent loses nothing: its Last Will says offline, a restart replays the outbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from protocol import Kind
from tests.agent.link.centre import Centre, dedupe
from tests.agent.link.children import kill, start_agent
from tests.harness.mosquitto import MosquittoBroker


@pytest.mark.fault
@pytest.mark.timeout(90)
def test_sigkill_mid_backlog_then_restart(
    tmp_path: Path, broker: MosquittoBroker, centre: Centre
) -> None:
    first = start_agent(tmp_path, broker.url, 0, 300)  # drains at 50/s, so most are still queued
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if line.strip() == "emitted 299":
                break
        time.sleep(0.5)
    finally:
        kill(first)
    will = centre.wait_for(lambda m: m.kind == Kind.STATE and m.state == "offline")[0]
    assert will.reason == "connection_lost"
    births = centre.of(Kind.BIRTH)
    assert will.session == births[0].session

    second = start_agent(tmp_path, broker.url, 300, 10)
    try:
        deadline = time.monotonic() + 45
        while True:  # duplicates may arrive first; wait for 310 distinct events
            events = centre.of(Kind.EVENT)
            if len(dedupe(events)) >= 310 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        kill(second)
    unique = dedupe(events)
    numbers = [m.body.segments for m in unique]
    assert sorted(set(numbers)) == list(range(310)), "an event was lost"
    assert len(numbers) == 310, "an event arrived twice after dedupe"
    old = [n for n in numbers if n < 300]
    assert old == sorted(old), "replay out of order"
    assert any(m.historical for m in unique)
