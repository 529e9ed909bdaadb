"""Who this agent run is on the wire: boot id, message sequence, connection session counter.

`boot_id` is new on every start and `seq` grows per boot, so (box_id, boot_id, seq) names each
message once. `session` grows on every connect and is persisted; it is seeded from the clock
(`max(stored + 1, now in ms)`) so it keeps growing even after the state directory is wiped,
which lets the centre recognise a stale Last Will.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from pathlib import Path

from agent.link.clock import Clock

__all__ = ["Session"]

log = logging.getLogger(__name__)


class Session:
    """Boot id, seq allocator and the persisted connection counter for one agent run."""

    FILE = "session.json"

    def __init__(self, state_dir: Path, clock: Clock) -> None:
        self.boot_id = secrets.token_hex(6)
        self._path = state_dir / self.FILE
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self._session = self._load()
        self.started_at = clock.now()

    def _load(self) -> int:
        try:
            value = json.loads(self._path.read_text())["session"]
            return int(value)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("session file %s unreadable (%s); seeding from the clock", self._path, exc)
            return 0

    def next_seq(self) -> int:
        """The next message sequence number of this boot."""
        with self._lock:
            seq = self._seq
            self._seq += 1
            return seq

    @property
    def current(self) -> int:
        """The session number of the current (or last) connection attempt."""
        with self._lock:
            return self._session

    def next_session(self) -> int:
        """A new, larger session number for the next connect, persisted before use."""
        now_ms = int(self._clock.now().timestamp() * 1000)
        with self._lock:
            self._session = max(self._session + 1, now_ms)
            value = self._session
        self._persist(value)
        return value

    def _persist(self, value: int) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_suffix(".tmp")
            with tmp.open("w") as handle:
                json.dump({"session": value}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self._path)
        except OSError as exc:  # the clock seed still keeps the counter growing
            log.warning("cannot persist session counter to %s: %s", self._path, exc)
