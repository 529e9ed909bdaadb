"""The sweep role: every interval, whoever holds the lease runs the derived checks."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from controller.core.settings import Settings
from controller.core.types import utc_now
from controller.jobs import service as jobs
from controller.sweeps import checks
from controller.sweeps.lease import take_lease

__all__ = ["SweepRunner"]

log = logging.getLogger(__name__)

LEASE = "fleet-sweep"


class SweepRunner:
    """A stop-event loop; `run_once` is the unit the tests drive with their own clock."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        holder: str | None = None,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._clock = clock
        self.holder = holder or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="fleet-sweeps", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._settings.sweep_interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception("sweep failed", extra={"holder": self.holder})

    def run_once(self) -> bool:
        """Run every check if this replica holds the lease; True when it ran."""
        now = self._clock()
        ttl = timedelta(seconds=max(3 * self._settings.sweep_interval_s, 15))
        with Session(self._engine, expire_on_commit=False) as session:
            if not take_lease(session, name=LEASE, holder=self.holder, now=now, ttl=ttl):
                return False
            silent = checks.silent_boxes(session, now=now, silent_s=self._settings.box_silent_s)
            long_down = checks.camera_offline_long(
                session, now=now, after_s=self._settings.camera_offline_alarm_s
            )
            checks.update_gauges(session)
            jobs.time_out_jobs(session, now=now)
            session.commit()
        if silent or long_down:
            log.info("sweep raised", extra={"silent_boxes": silent, "cameras_down_long": long_down})
        return True
