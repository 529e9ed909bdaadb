"""Who is waiting for which command reply: a registry keyed by request id.

The ingest dispatcher calls `ReplyWaiters.handle` for every `command_reply` on the receiver's
thread (a *direct* handler: someone is blocked on it, so it must not wait for a batch). A
reply nobody waits for (it came after the timeout, or the request was made by another
replica) is counted and dropped.

Several replicas: ingest uses a shared subscription, so a reply reaches only one replica. The
replica that sent the request therefore also subscribes to that box's reply topic directly
(non-shared) while it waits (`BoxReplyRoutes`); whichever copy arrives first wins, the other
finds no waiter.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from prometheus_client import Counter

from protocol import CommandReply, Kind, Message, ProtocolError, decode, topic

__all__ = ["BoxReplyRoutes", "ReplyWaiters", "Waiter"]

log = logging.getLogger(__name__)

UNCLAIMED = Counter(
    "schoolcam_command_replies_unclaimed_total",
    "Command replies no request on this replica was waiting for (late, or another replica's).",
)


@dataclass
class Waiter:
    """One request in flight; `done` is set when its reply arrives."""

    request_id: str
    box_id: str
    done: threading.Event = field(default_factory=threading.Event)
    reply: CommandReply | None = None


class ReplyWaiters:
    """Thread-safe map request id -> waiter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, Waiter] = {}
        self._answered: deque[str] = deque(maxlen=1024)  # a second copy is not "unclaimed"

    def expect(self, request_id: str, box_id: str) -> Waiter:
        waiter = Waiter(request_id=request_id, box_id=box_id)
        with self._lock:
            self._waiting[request_id] = waiter
        return waiter

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    def deliver(self, reply: CommandReply) -> bool:
        """Hand `reply` to its waiter; False if nobody here waits for it."""
        with self._lock:
            waiter = self._waiting.get(reply.request_id)
            if waiter is None or waiter.box_id != reply.box_id:
                waiter = None
            else:
                del self._waiting[reply.request_id]
                self._answered.append(reply.request_id)
            repeat = waiter is None and reply.request_id in self._answered
        if repeat:
            return False
        if waiter is None:
            UNCLAIMED.inc()
            log.info(
                "command reply nobody waits for",
                extra={"box_id": reply.box_id, "request_id": reply.request_id},
            )
            return False
        waiter.reply = reply
        waiter.done.set()
        return True

    def handle(self, message: Message) -> None:
        """The dispatcher's direct handler for Kind.COMMAND_REPLY."""
        if isinstance(message, CommandReply):
            self.deliver(message)


class BoxReplyRoutes:
    """Non-shared subscriptions to single boxes' reply topics, held while a request waits.

    Reference-counted per box; the messages go straight to the waiters through a per-topic
    paho callback, so they never pass ingest twice.
    """

    def __init__(self, client: mqtt.Client, waiters: ReplyWaiters) -> None:
        self._client = client
        self._waiters = waiters
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    def acquire(self, box_id: str) -> None:
        reply_topic = topic(Kind.COMMAND_REPLY, box_id)
        with self._lock:
            count = self._held.get(box_id, 0)
            self._held[box_id] = count + 1
            if count == 0:
                self._client.message_callback_add(reply_topic, self._on_message)
                self._client.subscribe(reply_topic, qos=1)

    def release(self, box_id: str) -> None:
        reply_topic = topic(Kind.COMMAND_REPLY, box_id)
        with self._lock:
            count = self._held.get(box_id, 0) - 1
            if count > 0:
                self._held[box_id] = count
                return
            self._held.pop(box_id, None)
            self._client.unsubscribe(reply_topic)
            self._client.message_callback_remove(reply_topic)

    def _on_message(self, _c: mqtt.Client, _u: object, raw: mqtt.MQTTMessage) -> None:
        try:
            message = decode(raw.topic, raw.payload)
        except ProtocolError as exc:
            log.warning(
                "unreadable command reply", extra={"topic": raw.topic, "reason": exc.reason}
            )
            return
        except Exception:  # never let a bad message kill paho's loop
            log.exception("command reply route failed", extra={"topic": raw.topic})
            return
        if isinstance(message, CommandReply):
            self._waiters.deliver(message)
