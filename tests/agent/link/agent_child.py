"""A link in a child process, for the kill tests: emits numbered events, then idles.

Usage: python -m tests.agent.link.agent_child STATE_PATH BROKER_URL FIRST COUNT [BROKER_JSON]
BROKER_JSON overrides `broker` settings (e.g. '{"protocol": "5", "keepalive_s": 10}').
Prints "emitted N" after every event, and "link up PROTOCOL" once the link first comes up,
so the test can act (kill, stop) at a known point.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agent.link import LinkService
from protocol import RetentionPurgeEvent
from tests.agent.link.conftest import agent_config
from tests.agent.link.doubles import ScriptedPipeline


def main() -> None:
    root, url, first, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    broker: dict[str, object] = {"url": url, "keepalive_s": 10, "reconnect_max_s": 1}
    if len(sys.argv) > 5:
        broker.update(json.loads(sys.argv[5]))
    config = agent_config(root, url, outbox={"drain_per_s": 50}, broker=broker)
    service = LinkService(config)
    service.start(ScriptedPipeline())
    for n in range(first, first + count):
        # the segment count carries the test's own running number
        service.sink.event(RetentionPurgeEvent(reason="age", segments=n, freed_bytes=0))
        sys.stdout.write(f"emitted {n}\n")
        sys.stdout.flush()
        time.sleep(0.005)
    while not service.metrics()["link_up"]:
        time.sleep(0.05)
    sys.stdout.write(f"link up {service.metrics()['link_protocol']}\n")
    sys.stdout.flush()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
