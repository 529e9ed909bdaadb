"""One simulated school box: a real MQTT session speaking the exact protocol, without video.

The box connects with its Last Will, announces itself (birth, retained `state` online and 16
retained camera statuses), then reports telemetry and status heartbeats on jittered timers and
lets the fault model break and mend things. Events raised while its uplink is down wait in a
small outbox and are replayed (`historical=True`) after the next connect.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from protocol import (
    Birth,
    BoxState,
    CameraState,
    CameraStatus,
    DiskUsage,
    Envelope,
    Event,
    EventBody,
    QualityFault,
    Telemetry,
    __version__,
    delivery_for,
    encode,
    topic_for,
    utc_now,
)
from protocol.topics import Kind, agent_subscriptions, topic
from simulator.fleet.catalog import SlotPlan, plan_cameras
from simulator.fleet.completeness import RecordingDay
from simulator.fleet.mqtt import ConnectRefused, MqttConnection, Will, connect
from simulator.fleet.settings import BrokerAddress, FleetSettings, FleetStats

if TYPE_CHECKING:
    from simulator.fleet.faults import FaultModel

__all__ = ["CameraRuntime", "FleetContext", "SimulatedBox"]

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000
DISK_TOTAL_BYTES = 4_000_000_000_000


class FleetContext(Protocol):
    """What a box needs from the fleet it belongs to."""

    ssl_context: ssl.SSLContext | None
    fault_model: FaultModel | None

    def handle_message(self, box: SimulatedBox, topic_name: str, payload: bytes) -> None:
        """Answer a message the centre sent to `box`."""


@dataclass
class CameraRuntime:
    """The live state of one simulated camera."""

    plan: SlotPlan
    state: CameraState
    since: datetime
    faults: list[QualityFault] = field(default_factory=list)
    error: str | None = None
    last_packet_at: datetime | None = None
    recording_day: RecordingDay | None = None


class SimulatedBox:
    """One box of the fleet; `run()` keeps it connected until the fleet stops."""

    def __init__(
        self,
        index: int,
        settings: FleetSettings,
        broker: BrokerAddress,
        stats: FleetStats,
        context: FleetContext,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.stats = stats
        self.context = context
        self.box_id = settings.box_id(index)
        self.school = settings.school(index)
        self.rng = random.Random(f"{settings.seed}:{self.box_id}")
        now = utc_now()
        self.cameras = {
            p.inventory.slot: CameraRuntime(
                plan=p,
                state=CameraState.OFFLINE if p.broken else CameraState.ONLINE,
                since=now,
                error="no route to camera" if p.broken else None,
                recording_day=RecordingDay(
                    now,
                    share_before=0.0 if p.broken else self.rng.uniform(0.985, 1.0),
                    down=p.broken,
                ),
            )
            for p in plan_cameras(self.rng)
        }
        self.started_at = now
        self.boot_id = secrets.token_hex(5)
        self.session = 0
        self.config_version = 0
        self.disk_free_percent = self.rng.uniform(25, 60)
        self.link_reconnects = 0
        self.connection: MqttConnection | None = None
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_ids = itertools.count()
        self._outbox: list[Event] = []
        self._wake: asyncio.Future[None] | None = None
        self._offline_until = 0.0
        self._last_heartbeat = 0.0

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, start_delay: float) -> None:
        """Connect after `start_delay`, then stay connected (reconnecting) until `stop`."""
        loop = asyncio.get_running_loop()
        await self._sleep(start_delay)
        backoff = 1.0
        while not stop.is_set():
            wait = self._offline_until - loop.time()
            if wait > 0:
                await self._sleep(wait)
                continue
            try:
                await self._connect()
                backoff = 1.0
                await self._serve(stop)
            except (OSError, TimeoutError, ConnectRefused) as exc:
                self.stats.connect_failures += 1
                log.warning("%s: cannot connect to the broker: %s", self.box_id, exc)
                await self._sleep(backoff * self.rng.uniform(0.5, 1.5))
                backoff = min(backoff * 2, 60.0)
            except Exception:
                self.stats.errors += 1
                log.exception("%s: box loop failed; reconnecting", self.box_id)
                await self._sleep(backoff)
            finally:
                self._drop_connection()

    def shutdown(self) -> None:
        """Clean stop: retained `state` offline with reason shutdown, then DISCONNECT."""
        connection = self.connection
        if connection is not None and connection.connected:
            try:
                self.publish(self._state("offline", "shutdown"))
                connection.disconnect()
            except ConnectionError:
                pass
        for job in self.jobs.values():
            job.cancel()
        self.wake()

    def wake(self) -> None:
        """Cut the current sleep short (connection lost, stop requested)."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def lose_uplink(self, duration_s: float) -> None:
        """Drop the connection without DISCONNECT (the will fires) and stay away a while."""
        self._offline_until = asyncio.get_running_loop().time() + duration_s
        self.stats.uplink_losses += 1
        if self.connection is not None:
            self.connection.abort()

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay_s` of connected time (it waits while the uplink is down)."""
        due = asyncio.get_running_loop().time() + delay_s
        heapq.heappush(self._timers, (due, next(self._timer_ids), action))
        self.wake()

    # --- publishing -------------------------------------------------------------------------

    def envelope(self) -> dict[str, object]:
        """Envelope fields for the next message: seq grows by one per message in this boot."""
        return {"box_id": self.box_id, "boot_id": self.boot_id, "seq": next(self._seq)}

    def publish(self, message: Envelope) -> None:
        """Send one message with the QoS and retain flag the protocol fixes for its kind."""
        connection = self.connection
        if connection is None or not connection.connected:
            if isinstance(message, Event) and len(self._outbox) < OUTBOX_LIMIT:
                self._outbox.append(message)
            else:
                self.stats.dropped += 1
            return
        delivery = delivery_for(message)
        connection.publish(topic_for(message), encode(message), delivery.qos, delivery.retain)
        self.stats.published += 1

    def emit(self, body: EventBody) -> None:
        """Publish one event."""
        self.stats.count_event(body.type)
        self.publish(Event(**self.envelope(), occurred_at=utc_now(), body=body))

    def publish_status(self, slot: int) -> None:
        camera = self.cameras[slot]
        online = camera.state is CameraState.ONLINE
        now = utc_now()
        if online:
            camera.last_packet_at = now
        self.publish(
            CameraStatus(
                **self.envelope(),
                slot=slot,
                state=camera.state,
                since=camera.since,
                last_packet_at=camera.last_packet_at,
                recording=online,
                completeness=(
                    camera.recording_day.share(now) if camera.recording_day is not None else None
                ),
                stream=camera.plan.stream if online else None,
                faults=list(camera.faults),
                error=camera.error,
            )
        )

    def publish_telemetry(self) -> None:
        rng = self.rng
        online = sum(c.state is CameraState.ONLINE for c in self.cameras.values())
        memory_percent = rng.uniform(20, 45)
        used = int(DISK_TOTAL_BYTES * (100 - self.disk_free_percent) / 100)
        self.publish(
            Telemetry(
                **self.envelope(),
                uptime_s=(utc_now() - self.started_at).total_seconds(),
                cpu_percent=round(rng.uniform(6, 35), 1),
                memory_percent=round(memory_percent, 1),
                memory_used_bytes=int(8 * 2**30 * memory_percent / 100),
                load_1m=round(rng.uniform(0.2, 1.6), 2),
                disks=[
                    DiskUsage(
                        mount="/var/lib/schoolcam",
                        total_bytes=DISK_TOTAL_BYTES,
                        used_bytes=used,
                        free_percent=round(self.disk_free_percent, 2),
                    )
                ],
                temperatures_c={"cpu": round(rng.uniform(42, 63), 1)},
                uplink_rtt_ms=round(rng.uniform(4, 40), 1),
                outbox_backlog=len(self._outbox),
                link_reconnects=self.link_reconnects,
                cameras_online=online,
                cameras_recording=online,
            )
        )

    def publish_heartbeat(self) -> None:
        for slot in self.cameras:
            self.publish_status(slot)

    # --- internals --------------------------------------------------------------------------

    def _state(self, state: str, reason: str) -> BoxState:
        return BoxState(**self.envelope(), state=state, session=self.session, reason=reason)

    def _next_session(self) -> int:
        self.session = max(self.session + 1, int(time.time() * 1000))
        return self.session

    async def _connect(self) -> None:
        first = not self.session
        if not first:
            self.link_reconnects += 1
        self._next_session()
        will = self._state("offline", "connection_lost")
        delivery = delivery_for(will)
        self.connection = await connect(
            self.broker.host,
            self.broker.port,
            client_id=self.box_id,
            username=self.box_id,
            password=self.settings.password_for(self.box_id),
            will=Will(topic_for(will), encode(will), delivery.qos, delivery.retain),
            keepalive=self.settings.keepalive_s,
            ssl_context=self.context.ssl_context,
            on_message=self._on_message,
        )
        self.connection.closed.add_done_callback(lambda _f: self.wake())
        self.stats.connects += 1
        self.stats.connected += 1
        if first:
            self.stats.booted += 1
        await self.connection.subscribe(agent_subscriptions(self.box_id))
        self.publish(
            Birth(
                **self.envelope(),
                software_version=f"{__version__}-sim",
                session=self.session,
                started_at=self.started_at,
                config_version=self.config_version,
                school=self.school,
                cameras=[c.plan.inventory for c in self.cameras.values()],
            )
        )
        self.publish(self._state("online", "connected"))
        self.publish_heartbeat()
        outbox, self._outbox = self._outbox, []
        for event in outbox:
            self.publish(event.model_copy(update={"historical": True}))

    async def _serve(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        rng = self.rng
        now = loop.time()
        next_telemetry = now + rng.uniform(0, settings.telemetry_interval_s)
        next_heartbeat = now + rng.uniform(0.05, 1.0) * settings.heartbeat_s
        fault_model = self.context.fault_model
        next_fault = now + (fault_model.next_delay(rng) if fault_model else float("inf"))
        connection = self.connection
        while not stop.is_set() and connection is not None and connection.connected:
            now = loop.time()
            if now >= next_telemetry:
                self.publish_telemetry()
                next_telemetry = now + settings.telemetry_interval_s * rng.uniform(0.9, 1.1)
            if now >= next_heartbeat:
                self.publish_heartbeat()
                next_heartbeat = now + settings.heartbeat_s * rng.uniform(0.9, 1.1)
            while self._timers and self._timers[0][0] <= now:
                _due, _id, action = heapq.heappop(self._timers)
                self._run_action(action)
            if fault_model is not None and now >= next_fault:
                self._run_action(lambda: fault_model.inject(self))
                next_fault = now + fault_model.next_delay(rng)
            due = min(next_telemetry, next_heartbeat, next_fault)
            if self._timers:
                due = min(due, self._timers[0][0])
            await self._sleep(max(0.0, due - loop.time()))

    def _run_action(self, action: Callable[[], None]) -> None:
        try:
            action()
        except ConnectionError:
            pass  # the connection went away mid-action; the loop notices and reconnects
        except Exception:
            self.stats.errors += 1
            log.exception("%s: simulated action failed", self.box_id)

    def _drop_connection(self) -> None:
        if self.connection is not None:
            self.connection.abort()
            self.connection = None
            self.stats.connected -= 1

    async def _sleep(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        handle = loop.call_later(delay, _resolve, wake)
        try:
            await wake
        finally:
            handle.cancel()

    def _on_message(self, topic_name: str, payload: bytes) -> None:
        self.stats.received += 1
        self.context.handle_message(self, topic_name, payload)

    def reply_topic(self) -> str:
        return topic(Kind.COMMAND_REPLY, self.box_id)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
