"""The recording index: one SQLite file listing every segment and every gap per camera.

A segment's row is written when its file opens and its end is moved forward as it grows, so a
crash leaves a row that the reconcile sweep can repair from the file itself. Times are stored
as UTC epoch seconds (REAL); the API speaks timezone-aware datetimes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

__all__ = ["Gap", "IndexCorrupt", "RecordingIndex", "Segment", "from_epoch", "to_epoch"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    slot INTEGER NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL UNIQUE,
    codec TEXT NOT NULL DEFAULT '',
    open INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS segments_slot_start ON segments (slot, start_ts);
CREATE INDEX IF NOT EXISTS segments_start ON segments (start_ts);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    slot INTEGER NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_slot_start ON gaps (slot, start_ts);
"""


class IndexCorrupt(Exception):
    """The index file is not a usable SQLite database; it was moved aside."""


def to_epoch(at: datetime) -> float:
    """UTC epoch seconds of an aware datetime."""
    if at.tzinfo is None:
        raise ValueError("naive datetime; the index only takes aware times")
    return at.timestamp()


def from_epoch(ts: float) -> datetime:
    """An aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class Segment:
    """One recorded file of one camera."""

    id: int
    slot: int
    start: datetime
    end: datetime
    bytes: int
    path: Path
    codec: str
    open: bool

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Gap:
    """A stretch without recording, and why."""

    slot: int
    start: datetime
    end: datetime
    reason: str


class RecordingIndex:
    """Thread-safe access to the index; paths are stored relative to the recording root."""

    def __init__(self, db_path: Path, root: Path) -> None:
        self.db_path = db_path
        self.root = root
        self._lock = threading.Lock()
        self.recovered_from_corruption: str | None = None
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            aside = db_path.with_name(
                f"{db_path.name}.corrupt-{int(datetime.now(UTC).timestamp())}"
            )
            log.error("recording index %s is corrupt (%s); moved aside to %s", db_path, exc, aside)
            db_path.replace(aside)
            for suffix in ("-wal", "-shm"):
                db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
            self.recovered_from_corruption = f"{exc}; old index kept as {aside.name}"
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            row = db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _segment(self, row: tuple[int, int, float, float, int, str, str, int]) -> Segment:
        sid, slot, start, end, size, path, codec, is_open = row
        return Segment(
            sid,
            slot,
            from_epoch(start),
            from_epoch(end),
            size,
            self.root / path,
            codec,
            bool(is_open),
        )

    # -- segments ---------------------------------------------------------------------------

    def open_segment(self, slot: int, start: datetime, path: Path, codec: str) -> int:
        """Record a segment as soon as its file exists; returns its id."""
        ts = to_epoch(start)
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO segments (slot, start_ts, end_ts, bytes, path, codec, open)"
                " VALUES (?, ?, ?, 0, ?, ?, 1)"
                " ON CONFLICT(path) DO UPDATE SET start_ts=excluded.start_ts,"
                " end_ts=excluded.end_ts, codec=excluded.codec, open=1",
                (slot, ts, ts, self._rel(path), codec),
            )
            row = db.execute(
                "SELECT id FROM segments WHERE path = ?", (self._rel(path),)
            ).fetchone()
        return int(row[0]) if row else int(cur.lastrowid or 0)

    def update_segment(self, segment_id: int, end: datetime, size: int, *, closed: bool) -> None:
        """Move a segment's end forward (while it grows) or finish it."""
        with self._tx() as db:
            db.execute(
                "UPDATE segments SET end_ts = ?, bytes = ?, open = ? WHERE id = ?",
                (to_epoch(end), size, 0 if closed else 1, segment_id),
            )

    def add_segment(
        self, slot: int, start: datetime, end: datetime, path: Path, size: int, codec: str
    ) -> int:
        """Adopt a finished file (reconcile)."""
        sid = self.open_segment(slot, start, path, codec)
        self.update_segment(sid, end, size, closed=True)
        return sid

    def delete_segments(self, ids: list[int]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM segments WHERE id = ?", [(i,) for i in ids])

    def segments(self, slot: int, start: datetime, end: datetime) -> list[Segment]:
        """Segments of one camera overlapping [start, end), in time order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, slot, start_ts, end_ts, bytes, path, codec, open FROM segments"
                " WHERE slot = ? AND end_ts > ? AND start_ts < ? ORDER BY start_ts",
                (slot, to_epoch(start), to_epoch(end)),
            ).fetchall()
        return [self._segment(r) for r in rows]

    def all_segments(self) -> list[Segment]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, slot, start_ts, end_ts, bytes, path, codec, open FROM segments"
                " ORDER BY start_ts"
            ).fetchall()
        return [self._segment(r) for r in rows]

    def oldest_segments(self, limit: int, *, before: datetime | None = None) -> list[Segment]:
        """The oldest finished segments across cameras (retention deletes from here)."""
        bound = to_epoch(before) if before is not None else float("inf")
        with self._lock:
            rows = self._db.execute(
                "SELECT id, slot, start_ts, end_ts, bytes, path, codec, open FROM segments"
                " WHERE open = 0 AND end_ts <= ? ORDER BY start_ts LIMIT ?",
                (bound, limit),
            ).fetchall()
        return [self._segment(r) for r in rows]

    def oldest_start(self) -> datetime | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(start_ts) FROM segments").fetchone()
        return from_epoch(row[0]) if row and row[0] is not None else None

    def last_end(self, slot: int) -> datetime | None:
        """Where a camera's recording last stopped (a gap starts here after an outage)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(end_ts) FROM segments WHERE slot = ?", (slot,)
            ).fetchone()
        return from_epoch(row[0]) if row and row[0] is not None else None

    # -- gaps --------------------------------------------------------------------------------

    def add_gap(self, slot: int, start: datetime, end: datetime, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO gaps (slot, start_ts, end_ts, reason) VALUES (?, ?, ?, ?)",
                (slot, to_epoch(start), to_epoch(end), reason[:500]),
            )

    def gaps(self, slot: int, start: datetime, end: datetime) -> list[Gap]:
        """Gaps of one camera overlapping [start, end), in time order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT slot, start_ts, end_ts, reason FROM gaps"
                " WHERE slot = ? AND end_ts > ? AND start_ts < ? ORDER BY start_ts",
                (slot, to_epoch(start), to_epoch(end)),
            ).fetchall()
        return [Gap(s, from_epoch(a), from_epoch(b), r) for s, a, b, r in rows]

    def delete_gaps_before(self, before: datetime) -> int:
        with self._tx() as db:
            cur = db.execute("DELETE FROM gaps WHERE end_ts < ?", (to_epoch(before),))
        return cur.rowcount

    # -- figures -----------------------------------------------------------------------------

    def recorded_seconds(self, slot: int, start: datetime, end: datetime) -> float:
        """Seconds of [start, end) covered by segments (overlaps counted once)."""
        lo, hi = to_epoch(start), to_epoch(end)
        total = 0.0
        covered_to = lo
        for seg in self.segments(slot, start, end):
            a = max(to_epoch(seg.start), covered_to)
            b = min(to_epoch(seg.end), hi)
            if b > a:
                total += b - a
                covered_to = b
        return total

    def first_record(self, slot: int) -> datetime | None:
        """When this camera's first segment or gap began: since then its recording is due."""
        with self._lock:
            row = self._db.execute(
                "SELECT min(ts) FROM (SELECT min(start_ts) AS ts FROM segments WHERE slot = ?"
                " UNION ALL SELECT min(start_ts) FROM gaps WHERE slot = ?)",
                (slot, slot),
            ).fetchone()
        return from_epoch(row[0]) if row and row[0] is not None else None

    def completeness(
        self, slot: int, day: date, *, now: datetime, scheduled_from: datetime | None = None
    ) -> float | None:
        """Recorded / scheduled seconds of one camera on one UTC day (None if nothing due).

        Recording is scheduled around the clock, from `scheduled_from` (when the camera was
        configured) up to `now`.
        """
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        lo = max(day_start, scheduled_from) if scheduled_from else day_start
        hi = min(day_start + timedelta(days=1), now)
        scheduled = (hi - lo).total_seconds()
        if scheduled <= 0:
            return None
        return min(1.0, self.recorded_seconds(slot, lo, hi) / scheduled)
