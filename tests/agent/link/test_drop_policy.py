"""A full outbox: which events survive each policy, the exact drop count, and that it is
reported (telemetry to a real subscriber) and logged once per burst, not once per event."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import pytest

from agent.link import LinkService
from agent.link.clock import ManualClock
from agent.link.drops import SUMMARY_INTERVAL_S
from agent.link.outbox import Outbox, OutboxFull
from protocol import CameraConnectivityEvent, Kind
from tests.agent.link.centre import Centre, dedupe
from tests.agent.link.conftest import agent_config, wait_until
from tests.agent.link.doubles import ScriptedPipeline
from tests.harness.mosquitto import MosquittoBroker

CAP = 100  # the smallest outbox the configuration allows
EXTRA = 37


def _drop_lines(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.name == "agent.link.outbox"]


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_a_burst_of_drops_is_logged_once_then_summarised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, policy: Literal["drop_oldest", "drop_newest"]
) -> None:
    clock = ManualClock()
    box = Outbox(
        tmp_path / "o.db", max_events=CAP, max_bytes=1 << 20, drop_policy=policy, clock=clock
    )
    caplog.set_level(logging.WARNING, logger="agent.link.outbox")
    for i in range(CAP + EXTRA):
        try:
            box.append("t", f"m{i}".encode())
        except OutboxFull:
            assert policy == "drop_newest"
    assert box.dropped == EXTRA
    lines = _drop_lines(caplog.records)
    assert len(lines) == 1 and "outbox full" in lines[0] and policy in lines[0], lines

    clock.advance(SUMMARY_INTERVAL_S)  # a long burst gets one summary a minute, no more
    for i in range(5):
        with pytest.raises(OutboxFull) if policy == "drop_newest" else _nothing():
            box.append("t", f"late{i}".encode())
    lines = _drop_lines(caplog.records)
    assert len(lines) == 2 and f"{EXTRA} more message(s) dropped" in lines[1], lines

    box.ack([r.id for r in box.after(0, 10)])  # the link drained some: room again
    box.append("t", b"after")
    lines = _drop_lines(caplog.records)
    assert len(lines) == 3 and "room again" in lines[2] and f"{EXTRA + 5} message(s)" in lines[2]
    assert box.dropped == EXTRA + 5 and box.drop_log.bursts == 1
    survivors = [r.payload for r in box.after(0, 1000)]
    if policy == "drop_oldest":  # the newest CAP were kept, then 10 acked, then one more
        assert survivors[0] == f"m{EXTRA + 5 + 10}".encode()
        assert survivors[-6:] == [f"late{i}".encode() for i in range(5)] + [b"after"]
    else:  # the first CAP were kept; everything later refused
        assert survivors[0] == b"m10" and survivors[-2:] == [f"m{CAP - 1}".encode(), b"after"]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.fault
@pytest.mark.timeout(40)
@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_full_outbox_keeps_the_policys_events_and_reports_the_exact_drop_count(
    tmp_path: Path,
    broker: MosquittoBroker,
    centre: Centre,
    caplog: pytest.LogCaptureFixture,
    policy: str,
) -> None:
    config = agent_config(
        tmp_path,
        broker.url,
        outbox={"drain_per_s": 2000, "max_events": CAP, "drop_policy": policy},
        reporting={"telemetry_interval_s": 5},
    )
    service = LinkService(config)
    service.start(ScriptedPipeline())
    try:
        centre.wait_for(lambda m: m.kind == Kind.BIRTH)
        broker.stop()
        wait_until(lambda: not service.metrics()["link_up"], what="the link to drop")
        caplog.set_level(logging.DEBUG, logger="agent.link")
        caplog.clear()
        total = CAP + EXTRA
        for i in range(total):  # a camera flaps while the centre is unreachable
            flap = CameraConnectivityEvent(type="camera_offline", slot=1, reason=f"n{i}")
            service.sink.event(flap)
        metrics = service.metrics()
        assert metrics["outbox_backlog"] == CAP and metrics["outbox_dropped"] == EXTRA
        warnings = [
            r for r in caplog.records if r.levelno >= logging.WARNING and "drop" in r.getMessage()
        ]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert policy in warnings[0].getMessage()

        broker.start()
        reported = centre.wait_for(
            lambda m: m.kind == Kind.TELEMETRY and m.outbox_dropped > 0, timeout=15
        )
        assert reported[0].outbox_dropped == EXTRA
        wait_until(lambda: len(dedupe(centre.of(Kind.EVENT))) >= CAP, timeout=15, what="events")
        wait_until(lambda: service.metrics()["outbox_backlog"] == 0, what="the PUBACKs")
    finally:
        service.stop()
    tags = [m.body.reason for m in dedupe(centre.of(Kind.EVENT))]
    kept = range(EXTRA, total) if policy == "drop_oldest" else range(CAP)
    assert tags == [f"n{i}" for i in kept]
