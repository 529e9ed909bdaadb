"""Copying SQLite's write-ahead log back into the database, off the ingest writer's path.

In WAL mode a commit that finds the log over its limit checkpoints it there and then, so the
ingest writer paid for the whole log every few batches. The writer's engine turns that off
(`make_engine(..., checkpoint_in_background=True)`) and this thread checkpoints instead,
on its own connection, every `interval_s`. SQLite releases the interpreter lock while it
copies, so the writer keeps going. A PASSIVE checkpoint never blocks readers or the writer;
when the log has grown past `restart_bytes` anyway (a reader held old pages for long), a
RESTART checkpoint waits briefly for them so the log starts over instead of growing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

from controller.core.db import sqlite_file

__all__ = ["WalCheckpointer"]

log = logging.getLogger(__name__)

RESTART_BYTES = 256 * 1024 * 1024


class WalCheckpointer:
    """A daemon thread checkpointing one SQLite database's write-ahead log."""

    def __init__(
        self, engine: Engine, *, interval_s: float = 1.0, restart_bytes: int = RESTART_BYTES
    ) -> None:
        path = sqlite_file(engine)
        if path is None:
            raise ValueError(f"{engine.url} is not a SQLite database file")
        self._path = path
        self._interval_s = interval_s
        self._restart_bytes = restart_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    @staticmethod
    def wanted(engine: Engine) -> bool:
        """True for an engine on a SQLite file, the only kind that has a log to checkpoint."""
        return sqlite_file(engine) is not None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, after one last checkpoint so the log is small for whoever opens it next."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=5, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval_s):
                self.checkpoint(connection)
            self.checkpoint(connection)
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One checkpoint; never raises (a busy or broken database is logged and retried)."""
        wal = self._path.with_name(self._path.name + "-wal")
        try:
            size = wal.stat().st_size if wal.exists() else 0
            mode = "RESTART" if size > self._restart_bytes else "PASSIVE"
            busy, _frames, _done = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            self.checkpoints += 1
            if busy and mode == "RESTART":
                log.warning("write-ahead log could not restart", extra={"wal_bytes": size})
        except (sqlite3.Error, OSError) as exc:
            log.warning("checkpoint failed", extra={"error": str(exc)})
