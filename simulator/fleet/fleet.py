"""FleetSimulator: thousands of simulated boxes on one asyncio loop in one thread.

Connections are staggered (`ramp_per_s`), periodic publishes are jittered so boxes never
publish in lockstep, one sweep drives every connection's keepalive, and an optional pacer adds
`rate` status/telemetry messages per second fleet-wide for load tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import ssl
import threading
import time

from simulator.fleet.box import SimulatedBox
from simulator.fleet.faults import FaultModel
from simulator.fleet.handlers import BoxResponder
from simulator.fleet.settings import FleetSettings, FleetStats, parse_broker_url, ssl_context_for

__all__ = ["FdLimitError", "FleetSimulator", "raise_fd_limit"]

log = logging.getLogger(__name__)

FD_HEADROOM = 256
KEEPALIVE_SWEEP_S = 5.0
PACER_TICK_S = 0.05


class FdLimitError(RuntimeError):
    """The process may not open enough sockets for the fleet asked for."""


def raise_fd_limit(needed: int) -> int:
    """Raise RLIMIT_NOFILE to at least `needed` (up to the hard limit); return the new soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    unlimited = hard == resource.RLIM_INFINITY
    if not unlimited and hard < needed:
        raise FdLimitError(
            f"{needed} open files needed but the hard limit is {hard}; raise it "
            f"(ulimit -Hn, or LimitNOFILE= in the service unit) or simulate fewer schools"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:
        raise FdLimitError(f"cannot raise the open-file limit to {needed}: {exc}") from exc
    return needed


class FleetSimulator:
    """Runs `settings.schools` simulated boxes; `start()`/`stop()` from any thread."""

    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings
        self.stats = FleetStats()
        self.broker = parse_broker_url(settings.broker_url)
        self.ssl_context: ssl.SSLContext | None = ssl_context_for(settings)
        self.fault_model: FaultModel | None = (
            FaultModel(settings.fault_rate, settings.fault_duration_s)
            if settings.fault_rate > 0
            else None
        )
        self.boxes: list[SimulatedBox] = []
        self.stop_event = threading.Event()
        self._responder = BoxResponder()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self.error: BaseException | None = None

    # --- the composition root's handles -----------------------------------------------------

    def start(self) -> None:
        """Start the fleet's thread; returns at once (boxes connect over the ramp)."""
        if self._thread is not None:
            return
        raise_fd_limit(self.settings.schools + FD_HEADROOM)
        self.stop_event.clear()
        self._thread = threading.Thread(target=self._run_thread, name="fleet-sim", daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("fleet simulator loop did not start")

    def stop(self, timeout: float = 30.0) -> None:
        """Publish a clean `offline` for every box, disconnect, and join the thread."""
        self.stop_event.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("fleet simulator did not stop within %.0f s", timeout)
            self._thread = None

    def wait_connected(self, count: int | None = None, timeout: float = 60.0) -> bool:
        """Block until `count` boxes (default all) have connected at least once.

        Not "are connected now": under the fault model some boxes are always away.
        """
        want = self.settings.schools if count is None else count
        deadline = time.monotonic() + timeout
        while self.stats.booted < want:
            if self.error is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def box(self, box_id: str) -> SimulatedBox:
        """The simulated box with this id (KeyError if the fleet has none)."""
        for box in self.boxes:
            if box.box_id == box_id:
                return box
        raise KeyError(box_id)

    def call(self, action: object) -> None:
        """Run a callable on the fleet's loop (e.g. to inject a fault into one box)."""
        if self._loop is None or not callable(action):
            raise RuntimeError("fleet is not running")
        self._loop.call_soon_threadsafe(action)

    # --- FleetContext -----------------------------------------------------------------------

    def handle_message(self, box: SimulatedBox, topic_name: str, payload: bytes) -> None:
        self._responder.handle(box, topic_name, payload)

    # --- the loop ---------------------------------------------------------------------------

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.run())
        except BaseException as exc:
            self.error = exc
            log.exception("fleet simulator stopped with an error")
        finally:
            self._started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def run(self) -> None:
        """Run the fleet on the current loop until `stop()` (or the task is cancelled)."""
        settings = self.settings
        self._stop = asyncio.Event()
        if self.stop_event.is_set():
            self._stop.set()
        self.boxes = [
            SimulatedBox(index, settings, self.broker, self.stats, self)
            for index in range(settings.first_index, settings.first_index + settings.schools)
        ]
        self._started.set()
        log.info("fleet of %d boxes connecting to %s", len(self.boxes), settings.broker_url)
        tasks = [
            asyncio.create_task(box.run(self._stop, position / settings.ramp_per_s))
            for position, box in enumerate(self.boxes)
        ]
        helpers = [asyncio.create_task(self._keepalive_sweep())]
        if settings.rate > 0:
            helpers.append(asyncio.create_task(self._pacer()))
        try:
            await self._stop.wait()
        finally:
            for box in self.boxes:
                box.shutdown()
            await asyncio.sleep(0.2)  # let the final offline states and DISCONNECTs drain
            for task in tasks + helpers:
                task.cancel()
            await asyncio.gather(*tasks, *helpers, return_exceptions=True)
            await self._responder.aclose()

    async def _keepalive_sweep(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SWEEP_S)
            now = time.monotonic()
            for box in self.boxes:
                connection = box.connection
                if connection is not None:
                    with contextlib.suppress(ConnectionError):
                        connection.keepalive(now)

    async def _pacer(self) -> None:
        """Extra status/telemetry churn at `rate` messages per second across the fleet."""
        loop = asyncio.get_running_loop()
        owed = 0.0
        cursor = 0
        last = loop.time()
        boxes = self.boxes
        while True:
            await asyncio.sleep(PACER_TICK_S)
            now = loop.time()
            owed += (now - last) * self.settings.rate
            last = now
            sent_nothing = 0
            while owed >= 1 and sent_nothing < len(boxes):
                box = boxes[cursor % len(boxes)]
                cursor += 1
                if box.connection is None or not box.connection.connected:
                    sent_nothing += 1
                    continue
                try:
                    if cursor % 17 == 0:
                        box.publish_telemetry()
                    else:
                        box.publish_status(box.rng.randint(1, 16))
                except ConnectionError:
                    continue
                except Exception:
                    self.stats.errors += 1
                    log.exception("%s: paced publish failed", box.box_id)
                owed -= 1
            owed = min(owed, self.settings.rate)  # never burst more than a second's worth
