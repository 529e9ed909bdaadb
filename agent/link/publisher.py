"""The two ways a message leaves the box: live, or durably through the outbox.

Live messages (birth, state, camera status, telemetry, command replies) go straight to the
link and are worth nothing once stale: status is re-sent on reconnect and on a heartbeat, so
one missed while the link is down is counted, not queued. Durable messages (events, job
progress, config reports) are written to the outbox first and survive outages and restarts.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from agent.link.client import MqttLink
from agent.link.clock import Clock
from agent.link.drain import OutboxDrainer
from agent.link.outbox import Outbox, OutboxFull
from agent.link.session import Session
from protocol import AgentEnvelope, ProtocolError, delivery_for, encode, topic_for

__all__ = ["Publisher"]

log = logging.getLogger(__name__)


class Publisher:
    """Stamps envelopes and sends messages live or through the outbox."""

    def __init__(
        self,
        box_id: str,
        session: Session,
        link: MqttLink,
        outbox: Outbox,
        drainer: OutboxDrainer,
        clock: Clock,
    ) -> None:
        self.box_id = box_id
        self.session = session
        self.link = link
        self.outbox = outbox
        self.drainer = drainer
        self.clock = clock
        self.live_skipped = 0  # live messages not sent because the link was down
        self.unencodable = 0
        self.outbox_errors = 0

    def envelope(self) -> dict[str, Any]:
        """Envelope fields for the next message of this boot."""
        return {
            "box_id": self.box_id,
            "boot_id": self.session.boot_id,
            "seq": self.session.next_seq(),
            "sent_at": self.clock.now(),
        }

    def live(self, message: AgentEnvelope) -> bool:
        """Publish now if the link is up; False (counted) if it is not."""
        try:
            payload = encode(message)
        except ProtocolError as exc:
            self.unencodable += 1
            log.error("cannot encode %s: %s", message.kind, exc)
            return False
        delivery = delivery_for(message)
        mid = self.link.publish(topic_for(message), payload, delivery.qos, delivery.retain)
        if mid is None:
            self.live_skipped += 1
            return False
        return True

    def durable(self, message: AgentEnvelope) -> bool:
        """Write to the outbox (then it is drained); False if the outbox refused it."""
        try:
            payload = encode(message)
        except ProtocolError as exc:
            self.unencodable += 1
            log.error("cannot encode %s: %s", message.kind, exc)
            return False
        delivery = delivery_for(message)
        try:
            self.outbox.append(
                topic_for(message), payload, qos=delivery.qos, retain=delivery.retain
            )
        except OutboxFull as exc:  # counted by the outbox, logged once per burst there
            log.debug("%s seq %d dropped: %s", message.kind, message.seq, exc)
            return False
        except sqlite3.Error as exc:  # full or broken disk: count it, keep the box running
            self.outbox_errors += 1
            log.error("outbox write failed; %s seq %d lost: %s", message.kind, message.seq, exc)
            return False
        self.drainer.wake()
        return True
