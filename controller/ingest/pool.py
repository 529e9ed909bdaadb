"""Several ingest writer processes, each with every message of its share of the boxes.

One writer process decodes and writes about as fast as one core allows; decoding is a third
of that and needs no lock. `WriterPool` runs `ingest_writers` of them, each behind its own
`WriterLink`, and sends every message to the writer that owns its box (a hash of the box id
in the topic), so one box's messages keep their order and dedupe state in one place. It has
the interface of a single `WriterLink`.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable

from controller.core.settings import Settings
from controller.ingest.split import WriterLink
from protocol import Kind

__all__ = ["WriterPool"]


def owner(topic_name: str, writers: int) -> int:
    """The writer that owns the box a topic names (any malformed topic goes to the first)."""
    parts = topic_name.split("/", 3)
    if writers == 1 or len(parts) < 4:
        return 0
    return zlib.crc32(parts[2].encode()) % writers


class WriterPool:
    """`settings.ingest_writers` writer processes sharing the fleet by box."""

    def __init__(
        self,
        settings: Settings,
        local: Callable[[str, bytes], None],
        local_kinds: Callable[[], list[Kind]],
    ) -> None:
        self.failed = threading.Event()
        """Set when any writer keeps dying; the receiving process should then exit non-zero."""
        self.links = [
            WriterLink(settings, local, local_kinds, index=n, failed=self.failed)
            for n in range(settings.ingest_writers)
        ]
        self._count = len(self.links)

    def put(self, topic_name: str, payload: bytes) -> None:
        """From the receiver's thread; blocks when that writer's buffer is full."""
        self.links[owner(topic_name, self._count)].put(topic_name, payload)

    @property
    def written(self) -> int:
        return sum(link.written for link in self.links)

    @property
    def alive(self) -> bool:
        return all(link.alive for link in self.links)

    def start(self) -> None:
        for link in self.links:
            link.start()

    def stop(self, timeout: float = 10.0) -> None:
        for link in self.links:
            link.stop(timeout)

    def wait_idle(self, timeout: float) -> bool:
        return all(link.wait_idle(timeout) for link in self.links)

    def kill_writer(self, index: int = 0) -> None:
        """End one writer process abruptly (what a crash looks like; for tests and drills)."""
        self.links[index].kill_writer()
