"""Drains the outbox to the broker: in order, at a bounded rate, with a cap on what is in flight.

Why a cap: paho reuses message ids past 65,535 unacknowledged QoS 1 messages and then loses
them silently, and a long backlog must not crowd out live status. Rows go out oldest first;
a row is deleted only when its PUBACK arrives. Rows that were already waiting when the link
came up (an outage, or a restart) are re-sent with `historical=true`.
"""

from __future__ import annotations

import logging
import threading

from agent.link.client import MqttLink
from agent.link.clock import Clock
from agent.link.outbox import Outbox, OutboxRow
from agent.roles import PeriodicRole
from protocol import ProtocolError, decode, encode

__all__ = ["OutboxDrainer"]

log = logging.getLogger(__name__)


class OutboxDrainer(PeriodicRole):
    """The role that moves outbox rows onto the link and deletes them on PUBACK."""

    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        *,
        rate_per_s: float,
        max_inflight: int,
        clock: Clock,
    ) -> None:
        super().__init__("link-outbox", 0.5, join_timeout_s=2.0, daemon=True)
        self.outbox = outbox
        self.link = link
        self.rate_per_s = rate_per_s
        self.max_inflight = max_inflight
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # mid -> row id
        self._acked: list[int] = []  # mids acknowledged, not yet applied
        self._cursor = 0  # last row id handed to the link on this connection
        self._connection = 0  # bumped by link_up; a send begun on an older one stops
        self._historical_upto = outbox.last_id()  # rows up to here are replays
        self._tokens = 1.0
        self._last_refill = clock.monotonic()
        self.sent = 0
        self.replayed = 0
        self.refused_count = 0

    def stop(self, timeout: float | None = None) -> None:
        """Stop the loop, then apply the acknowledgements that arrived meanwhile."""
        super().stop(timeout)
        self._flush_acks()

    # -- link events (network thread) ----------------------------------------------------

    def link_up(self) -> None:
        """A new connection: everything still in the outbox is sent again, as a replay."""
        with self._lock:
            self._inflight.clear()
            self._acked.clear()
            self._cursor = 0
            self._connection += 1
            self._historical_upto = self.outbox.last_id()
        self.wake()

    def link_down(self) -> None:
        with self._lock:
            self._inflight.clear()
            self._acked.clear()

    def acknowledged(self, mid: int) -> None:
        with self._lock:
            self._acked.append(mid)
        self.wake()

    def refused(self, mid: int) -> None:
        """The broker answered with a failure code: the row stays stored, sent again on replay."""
        with self._lock:
            if self._inflight.pop(mid, None) is not None:
                self.refused_count += 1
        self.wake()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # -- the loop ------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply acknowledgements, then send what the rate and the in-flight cap allow."""
        try:
            self._flush_acks()
            if self.link.connected:
                self._send_some()
        except Exception:
            log.exception("outbox drain step failed (backlog %d)", self.outbox.backlog)
            self._stop_event.wait(1.0)

    def _flush_acks(self) -> None:
        with self._lock:
            mids, self._acked = self._acked, []
            rows = [self._inflight.pop(mid) for mid in mids if mid in self._inflight]
        self.outbox.ack(rows)

    def _refill(self) -> None:
        now = self._clock.monotonic()
        burst = max(1.0, self.rate_per_s / 4)
        self._tokens = min(burst, self._tokens + (now - self._last_refill) * self.rate_per_s)
        self._last_refill = now

    def _send_some(self) -> None:
        self._refill()
        room = min(self.max_inflight - len(self._inflight), int(self._tokens))
        if room <= 0:
            if self._tokens < 1:
                self._stop_event.wait((1 - self._tokens) / self.rate_per_s)
                self.wake()
            return
        with self._lock:
            connection, cursor = self._connection, self._cursor
        rows = self.outbox.after(cursor, room)
        for row in rows:
            mid = self.link.publish(row.topic, self._payload(row), row.qos, row.retain)
            if mid is None:
                return  # link went down; link_up rewinds
            with self._lock:
                if self._connection != connection:
                    # The link dropped and came back while these rows were being sent: the
                    # cursor was rewound for the new connection and must not jump past rows
                    # that were in flight on the old one. The row is sent again from there.
                    return
                self._inflight[mid] = row.id
                self._cursor = row.id
            self._tokens -= 1
            self.sent += 1
        if len(rows) == room and room > 0:
            self.wake()  # more may be waiting

    def _payload(self, row: OutboxRow) -> bytes:
        if row.id > self._historical_upto:
            return row.payload
        self.replayed += 1
        try:
            message = decode(row.topic, row.payload)
        except ProtocolError as exc:  # stored by us, so this is a bug or a schema change
            log.error("outbox row %d no longer decodes (%s); sent as stored", row.id, exc)
            return row.payload
        return encode(message.model_copy(update={"historical": True}))
