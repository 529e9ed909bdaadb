"""The on-disk outbox: what must reach the centre is written here before it is published.

Rows are kept in SQLite (WAL) in the agent's state directory, in append order, until the
broker acknowledges them (PUBACK). The store is bounded by row count and bytes; when full the
configured drop policy decides what goes, and every dropped row is counted (persistently) so
the loss is reported, never silent; the log gets one line per burst of drops (`drops.DropLog`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.link.clock import Clock, SystemClock
from agent.link.drops import DropLog

__all__ = ["Outbox", "OutboxFull", "OutboxRow"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxFull(Exception):
    """The outbox refused a row (drop_newest policy, or a row larger than the whole store)."""


@dataclass(frozen=True)
class OutboxRow:
    """One message waiting for its PUBACK."""

    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """A bounded, ordered, durable queue of encoded messages; safe to use from any thread."""

    def __init__(
        self,
        path: Path,
        *,
        max_events: int,
        max_bytes: int,
        drop_policy: Literal["drop_oldest", "drop_newest"] = "drop_oldest",
        clock: Clock | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.drop_policy = drop_policy
        self.drop_log = DropLog(drop_policy, clock or SystemClock())
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
        ).fetchone()
        self._count, self._bytes = int(count), int(size)
        row = self._db.execute("SELECT value FROM outbox_meta WHERE key='dropped'").fetchone()
        self._dropped = int(row[0]) if row else 0

    # -- writing -------------------------------------------------------------------------

    def append(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Store one message durably and return its row id; OutboxFull if it was refused."""
        size = len(payload)
        with self._lock:
            if size > self.max_bytes:
                self._count_dropped(1)
                log.warning(
                    "a %d-byte message on %s exceeds the whole outbox (%d B); dropped (%d ever)",
                    size,
                    topic,
                    self.max_bytes,
                    self._dropped,
                )
                raise OutboxFull(f"a {size}-byte message exceeds the outbox ({self.max_bytes} B)")
            over = self._count + 1 > self.max_events or self._bytes + size > self.max_bytes
            if over and self.drop_policy == "drop_newest":
                self._count_dropped(1)
                self.drop_log.dropped(1, self._dropped, self._full("the newest is refused"))
                raise OutboxFull(
                    f"outbox full ({self._count} messages, {self._bytes} B); newest dropped"
                )
            with self._db:
                self._db.execute("BEGIN")
                dropped = self._drop_oldest_locked(size) if over else 0
                cursor = self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                    (topic, payload, qos, int(retain)),
                )
            self._count += 1
            self._bytes += size
            if dropped:
                self.drop_log.dropped(dropped, self._dropped, self._full("the oldest go"))
            else:
                self.drop_log.relieved(self._dropped)
            return int(cursor.lastrowid or 0)

    def _full(self, what: str) -> str:
        return f"outbox full ({self.max_events} messages / {self.max_bytes} B at most); {what}"

    def _drop_oldest_locked(self, incoming: int) -> int:
        """Delete the oldest rows until `incoming` bytes fit; how many went (counted)."""
        dropped = 0
        while self._count > 0 and (
            self._count + 1 > self.max_events or self._bytes + incoming > self.max_bytes
        ):
            want = max(1, self._count + 1 - self.max_events)
            rows = self._db.execute(
                "SELECT id, LENGTH(payload) FROM outbox ORDER BY id LIMIT ?", (want,)
            ).fetchall()
            ids = [r[0] for r in rows]
            self._db.executemany("DELETE FROM outbox WHERE id=?", [(i,) for i in ids])
            self._count -= len(rows)
            self._bytes -= sum(int(r[1]) for r in rows)
            dropped += len(rows)
        self._count_dropped(dropped, in_transaction=True)
        return dropped

    def _count_dropped(self, n: int, *, in_transaction: bool = False) -> None:
        self._dropped += n
        sql = (
            "INSERT INTO outbox_meta (key, value) VALUES ('dropped', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value"
        )
        if in_transaction:
            self._db.execute(sql, (self._dropped,))
        else:
            with self._db:
                self._db.execute(sql, (self._dropped,))

    def ack(self, row_ids: list[int]) -> None:
        """Forget rows the broker acknowledged (ids already gone are ignored)."""
        if not row_ids:
            return
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for row_id in row_ids:
                found = self._db.execute(
                    "DELETE FROM outbox WHERE id=? RETURNING LENGTH(payload)", (row_id,)
                ).fetchone()
                if found is not None:
                    self._count -= 1
                    self._bytes -= int(found[0])

    # -- reading -------------------------------------------------------------------------

    def after(self, row_id: int, limit: int) -> list[OutboxRow]:
        """Up to `limit` rows with an id above `row_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (row_id, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def last_id(self) -> int:
        """The id of the newest row (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        return int(row[0])

    @property
    def backlog(self) -> int:
        """Messages waiting for their PUBACK."""
        return self._count

    @property
    def backlog_bytes(self) -> int:
        return self._bytes

    @property
    def dropped(self) -> int:
        """Messages dropped because the outbox was full, ever (persisted)."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            self._db.close()
