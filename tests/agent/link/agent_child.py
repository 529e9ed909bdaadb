"""A link in a child process, for the SIGKILL test: emits numbered events, then idles.

Usage: python -m tests.agent.link.agent_child STATE_PATH BROKER_URL FIRST COUNT
Prints "emitted N" after every event so the test can kill it mid-way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agent.link import LinkService
from protocol import RetentionPurgeEvent
from tests.agent.link.conftest import agent_config
from tests.agent.link.doubles import ScriptedPipeline


def main() -> None:
    root, url, first, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    service = LinkService(agent_config(root, url, outbox={"drain_per_s": 50}))
    service.start(ScriptedPipeline())
    for n in range(first, first + count):
        # the segment count carries the test's own running number
        service.sink.event(RetentionPurgeEvent(reason="age", segments=n, freed_bytes=0))
        sys.stdout.write(f"emitted {n}\n")
        sys.stdout.flush()
        time.sleep(0.005)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
