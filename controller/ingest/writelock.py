"""One SQLite writer at a time among the ingest writer processes, without SQLite's sleeps.

Several writer processes share the decoding; on SQLite only one may write at a time. Left to
SQLite, a writer that finds the database locked sleeps in steps of up to 100 ms and, if it
had already read, may have to give its whole batch up. Around each batch the writers take an
advisory lock on a file next to the database instead: the kernel wakes the next one the moment
it is free, and frees it if its holder dies, so a killed writer never blocks the others.
PostgreSQL locks rows, so there the lock is a no-op and the writers write side by side.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

from controller.core.db import sqlite_file

__all__ = ["WriterLock"]


class WriterLock:
    """A context manager: `with lock: write the batch`."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd: int | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> WriterLock:
        """A lock file beside a SQLite database; a no-op lock for any other database."""
        database = sqlite_file(engine)
        return cls(None if database is None else Path(f"{database}.ingest-lock"))

    def __enter__(self) -> WriterLock:
        if self._path is not None:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
