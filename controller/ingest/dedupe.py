"""A bounded in-memory seen-set per (box, boot): drops QoS 1 redeliveries before any DB work.

Not a high-water mark: replays arrive late and out of order, so each seq is remembered
individually (the newest `per_boot` per boot). The events table's unique key stays the truth.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

__all__ = ["SeenSet"]


class SeenSet:
    """Remembers recent (box_id, boot_id, seq) keys; thread-safe."""

    def __init__(self, per_boot: int = 4096, boots: int = 200_000) -> None:
        self._per_boot = per_boot
        self._boots = boots
        self._seen: OrderedDict[tuple[str, str], tuple[set[int], deque[int]]] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, box_id: str, boot_id: str, seq: int) -> bool:
        """True the first time a key is offered, False for a repeat."""
        key = (box_id, boot_id)
        with self._lock:
            entry = self._seen.get(key)
            if entry is None:
                entry = (set(), deque())
                self._seen[key] = entry
                if len(self._seen) > self._boots:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(key)
            seqs, order = entry
            if seq in seqs:
                return False
            seqs.add(seq)
            order.append(seq)
            if len(order) > self._per_boot:
                seqs.discard(order.popleft())
            return True
