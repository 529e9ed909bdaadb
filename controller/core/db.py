"""Database engine and sessions: SQLite in WAL mode by default, PostgreSQL in production."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from controller.core import metrics

__all__ = ["dialect_insert", "is_sqlite", "make_engine", "session_scope", "sqlite_file"]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of an engine on a SQLite file; None for memory or another database."""
    database = engine.url.database
    if not is_sqlite(engine) or not database or database == ":memory:":
        return None
    return Path(database)


SQLITE_CACHE_KIB = 65_536
"""Page cache per SQLite connection: the camera table of a 10,000-school fleet and its indexes
stay in memory (SQLite's default of 2 MiB made every batch re-read them)."""


def make_engine(url: str, *, checkpoint_in_background: bool = False) -> Engine:
    """An engine with the pragmas and pool the controller needs on either database.

    `checkpoint_in_background` (SQLite; for the ingest writer) stops this engine's commits
    from copying the write-ahead log back into the database themselves, which made one commit
    in a few take tens of milliseconds; the caller must then run a `WalCheckpointer`.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            if checkpoint_in_background:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    _time_statements(engine)
    return engine


def _time_statements(engine: Engine) -> None:
    """Feed every statement's duration to the DB latency histogram."""

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, _cursor: Any, _stmt: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        conn.info.setdefault("schoolcam_t0", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, _cursor: Any, _stmt: Any, _params: Any, _ctx: Any, _many: Any) -> None:
        starts = conn.info.get("schoolcam_t0")
        if starts:
            metrics.DB_LATENCY.observe(time.perf_counter() - starts.pop())


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dialect_insert(session: Session) -> Any:
    """The dialect's `insert` (with ON CONFLICT support) for this session's database."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
