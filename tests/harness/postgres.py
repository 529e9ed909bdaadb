"""A throwaway PostgreSQL server from the Debian binaries, in a temp dir, on a free port.

PostgreSQL refuses to run as root, and CI runs as root; then the server runs as the
`postgres` system user (created by the Debian package) via runuser.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.harness.ports import free_port, wait_for_port

__all__ = ["PostgresServer", "postgres_bin_dir"]


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0,
    )
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found; run `make system-deps`")
    return Path(found[-1]).parent


class PostgresServer:
    """One server; `create_database()` gives each test its own empty database."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.bin = postgres_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="schoolcam-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")
        self._started = False

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        """initdb, then start and wait for the port."""
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            self.user,
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._started = True
        wait_for_port(self.port, timeout=30)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for `database`."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh empty database; returns its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database made by `create_database`, closing whoever still uses it."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop immediately and delete the data directory."""
        if self._started:
            with contextlib.suppress(RuntimeError):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
