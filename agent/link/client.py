"""The MQTT connection to the centre: one paho client driven by its own loop thread.

Why a hand-driven loop rather than paho's `loop_start`: the Last Will must carry the session
number of each connection, and paho's own reconnect would re-send a stale will. So every
attempt takes a new session, sets the will, connects (clean_start=False, a persistent session),
and on loss waits with capped exponential backoff. MQTT 5 is used unless the broker refuses
it, then 3.1.1. Every paho callback is wrapped so an exception in our code is logged and can
never kill the network loop.

Every byte goes through the socket on the loop thread. Left alone, paho writes a publish
straight from the caller's thread while the loop thread reads; over TLS that is two threads in
one OpenSSL connection, which can break the record stream and drop the link (the broker then
publishes the will). Registering a write callback makes paho queue instead and wake the loop.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import BrokerSettings
from agent.link.backoff import Backoff
from agent.link.clock import Clock

__all__ = [
    "BrokerTarget",
    "LinkCallbacks",
    "LinkState",
    "MqttLink",
    "announced_keepalive",
    "parse_broker_url",
]

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
GOODBYE_TIMEOUT_S = 1.0  # DISCONNECT is a two-byte write; a socket that takes longer is dead
CONNACK_TIMEOUT_S = 5.0  # a healthy broker answers in milliseconds, even a busy one in seconds
# Mosquitto 2.0 looks for silent clients only every 6 s (on whole seconds), so it publishes a
# will up to ~7 s after 1.5 x keepalive; measured in tests/agent/link/test_will_timing.py.
BROKER_SLACK_S = 7.0
_UNSUPPORTED_PROTOCOL = {1, 132}  # 3.1.1 "unacceptable protocol version"; MQTT 5 0x84


@dataclass(frozen=True)
class BrokerTarget:
    """Host, port and whether TLS is used, from `mqtt://` or `mqtts://` URLs."""

    host: str
    port: int
    tls: bool


def announced_keepalive(keepalive_s: int) -> int:
    """The keepalive sent in CONNECT, so a dead box is offline within 1.5 x `keepalive_s`.

    The broker publishes the will 1.5 keepalives after the last packet, plus its own slack;
    announcing less than configured keeps the configured promise (30 s -> 25 s, 10 s -> 5 s).
    """
    return max(2, int((1.5 * keepalive_s - BROKER_SLACK_S) / 1.5))


def parse_broker_url(url: str) -> BrokerTarget:
    """Split a broker URL; the config model has already checked its shape."""
    scheme, _, rest = url.partition("://")
    host, _, port = rest.rpartition(":")
    tls = scheme == "mqtts"
    if not host:
        host, port = rest, ""
    return BrokerTarget(host=host.strip("[]"), port=int(port or (8883 if tls else 1883)), tls=tls)


@dataclass
class LinkCallbacks:
    """What the link tells the rest of the agent; each runs on the network thread, briefly."""

    will: Callable[[int], tuple[str, bytes]]  # session -> (topic, payload) of the Last Will
    on_up: Callable[[int], None] = lambda _session: None
    on_down: Callable[[], None] = lambda: None
    on_message: Callable[[str, bytes], None] = lambda _topic, _payload: None
    on_publish: Callable[[int], None] = lambda _mid: None
    on_refused: Callable[[int], None] = lambda _mid: None  # a PUBACK with a failure code


@dataclass
class LinkState:
    """The link's own health, reported as metrics and in telemetry."""

    up: bool = False
    connects: int = 0
    reconnects: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    publish_refused: dict[str, int] = field(default_factory=dict)  # PUBACK failure, by reason
    subscribe_refused: dict[str, int] = field(default_factory=dict)  # SUBACK failure, by filter
    protocol: str = "5"
    rtt_ms: float | None = None
    backoff_s: float | None = None  # the wait before the next attempt while the link is down


class MqttLink:
    """Keeps one MQTT connection to the broker alive until stopped."""

    def __init__(
        self,
        box_id: str,
        settings: BrokerSettings,
        callbacks: LinkCallbacks,
        *,
        next_session: Callable[[], int],
        clock: Clock,
        backoff: Backoff | None = None,
    ) -> None:
        self.box_id = box_id
        self.settings = settings
        self.callbacks = callbacks
        self.state = LinkState(protocol=settings.protocol)
        self._target = parse_broker_url(settings.url)
        self._next_session = next_session
        self._clock = clock
        self.backoff = backoff or Backoff(cap_s=settings.reconnect_max_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._session = 0
        self._sent_at: dict[int, tuple[float, str]] = {}  # mid -> (sent, topic)
        self._subscribing: dict[int, list[str]] = {}  # mid -> filters
        self._sent_lock = threading.Lock()
        self._connack = False
        self._answered = False
        self._protocol_kept = False  # a version got a CONNACK: no more alternating this run
        self.connack_timeout_s = CONNACK_TIMEOUT_S

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        self._thread = threading.Thread(target=self._run, name="link-mqtt", daemon=True)
        self._thread.start()

    def stop(self, farewell: tuple[str, bytes] | None = None, timeout: float = 3.0) -> None:
        """Publish `farewell` (the explicit offline) if connected, disconnect, join the loop."""
        client = self._client
        if client is not None and self.state.up and farewell is not None:
            try:
                info = client.publish(farewell[0], farewell[1], qos=1, retain=True)
                with self._sent_lock:
                    self._sent_at[info.mid] = (self._clock.monotonic(), farewell[0])
                info.wait_for_publish(timeout=min(1.5, timeout))
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish the offline state before stopping: %s", exc)
        self._stop.set()  # the loop thread sends DISCONNECT, so the broker drops the will
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("MQTT loop did not stop within %.1f s", timeout)

    @property
    def connected(self) -> bool:
        return self.state.up

    @property
    def session(self) -> int:
        return self._session

    # -- publishing ----------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> int | None:
        """Hand one message to paho; its message id, or None if the link is down."""
        client = self._client
        if client is None or not self.state.up:
            return None
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        if qos > 0:
            with self._sent_lock:
                self._sent_at[info.mid] = (self._clock.monotonic(), topic)
        return int(info.mid)

    def subscribe(self, filters: list[str]) -> None:
        """Subscribe at QoS 1; a filter the broker refuses is logged and counted on SUBACK."""
        client = self._client
        if client is None:
            return
        with self._sent_lock:
            _rc, mid = client.subscribe([(f, 1) for f in filters])
            if mid is not None:
                self._subscribing[mid] = list(filters)

    # -- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connected = self._connect_once()
            except Exception:
                log.exception("MQTT link loop failed; reconnecting")
                connected = False
            if self._stop.is_set():
                break
            delay = self.backoff.next_delay(connected)
            self.state.backoff_s = delay
            log.info("MQTT link down; next attempt in %.1f s", delay)
            self._stop.wait(delay)
            self.state.backoff_s = None

    def _connect_once(self) -> bool:
        """One connection from attempt to loss; True if it got as far as a CONNACK."""
        self._session = self._next_session()
        client = self._build_client()
        self._client = client
        self._connack = False
        self._answered = False  # any CONNACK, accepting or refusing
        topic, payload = self.callbacks.will(self._session)
        client.will_set(topic, payload, qos=1, retain=True)
        keepalive = announced_keepalive(self.settings.keepalive_s)
        try:
            if self.state.protocol == "5":
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = SESSION_EXPIRY_S
                client.connect(
                    self._target.host,
                    self._target.port,
                    keepalive=keepalive,
                    clean_start=False,
                    properties=props,
                )
            else:
                client.connect(self._target.host, self._target.port, keepalive=keepalive)
        except (OSError, ssl.SSLError) as exc:
            log.warning("cannot reach broker %s:%d: %s", self._target.host, self._target.port, exc)
            return False
        self._serve(client)
        if self.state.up:
            self._mark_down()
        if not self._stop.is_set():
            try:
                client.disconnect()
            except Exception:
                log.debug("closing a dead MQTT socket failed", exc_info=True)
        return self._connack

    def _serve(self, client: mqtt.Client) -> None:
        """Run the network loop until the connection ends, or no CONNACK comes in time."""
        started = self._clock.monotonic()
        while True:
            if self._stop.is_set():
                self._say_goodbye(client)
                return
            rc = client.loop(timeout=0.2)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                if not self._answered and not self._stop.is_set():  # refusals: _on_connect
                    self._unanswered(f"closed the connection ({mqtt.error_string(rc)})")
                return
            waited = self._clock.monotonic() - started
            if not self._answered and waited > self.connack_timeout_s:
                self._unanswered(f"sent no CONNACK within {self.connack_timeout_s:.0f} s")
                return

    def _say_goodbye(self, client: mqtt.Client) -> None:
        """Send DISCONNECT and run the loop until paho has written it and closed the socket."""
        try:
            client.disconnect()
        except Exception:  # the socket may already be gone; nothing more to do
            log.debug("disconnect on stop failed", exc_info=True)
            return
        deadline = self._clock.monotonic() + GOODBYE_TIMEOUT_S
        while self._clock.monotonic() < deadline:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                return

    def _unanswered(self, what: str) -> None:
        """The broker ended or ignored a CONNECT without answering it.

        A TLS refusal (no or wrong client certificate) looks like this, and so does a 3.1.1-only
        broker that cannot parse an MQTT 5 CONNECT (amqtt waits for bytes that never come
        instead of refusing). So while MQTT 5 is configured, unanswered attempts alternate
        between 5 and 3.1.1; the first version that gets a CONNACK is kept for this run.
        """
        tried = self.state.protocol
        if self.settings.protocol == "5" and not self._protocol_kept:
            self.state.protocol = "3.1.1" if tried == "5" else "5"
        log.warning(
            "broker %s:%d %s to an MQTT %s CONNECT; check the TLS client certificate and the "
            "broker's MQTT version (next attempt: MQTT %s)",
            self._target.host,
            self._target.port,
            what,
            tried,
            self.state.protocol,
        )

    def _build_client(self) -> mqtt.Client:
        s = self.settings
        v5 = self.state.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.box_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.max_inflight_messages_set(65_000)
        client.max_queued_messages_set(0)
        username = s.username or self.box_id
        client.username_pw_set(username, _password(s))
        if self._target.tls:
            client.tls_set(
                ca_certs=str(s.ca_file) if s.ca_file else None,
                certfile=str(s.cert_file) if s.cert_file else None,
                keyfile=str(s.key_file) if s.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.on_socket_register_write = _queue_writes_for_loop
        client.on_connect = _guard("on_connect", self._on_connect)
        client.on_disconnect = _guard("on_disconnect", self._on_disconnect)
        client.on_message = _guard("on_message", self._on_message)
        client.on_publish = _guard("on_publish", self._on_publish)
        client.on_subscribe = _guard("on_subscribe", self._on_subscribe)
        return client

    # -- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self._answered = True
        if reason.is_failure:
            name = str(reason)
            self.state.refusals[name] = self.state.refusals.get(name, 0) + 1
            log.error(
                "broker refused the connection of %s (user %s, protocol %s): %s (value %s)",
                self.box_id,
                self.settings.username or self.box_id,
                self.state.protocol,
                name,
                reason.value,
            )
            if reason.value in _UNSUPPORTED_PROTOCOL and self.state.protocol == "5":
                log.warning("broker does not speak MQTT 5; falling back to 3.1.1")
                self.state.protocol = "3.1.1"
            return
        self._connack = True
        self._protocol_kept = True  # a broker that stalls later is not a 3.1.1-only broker
        self.state.up = True
        self.state.connects += 1
        if self.state.connects > 1:
            self.state.reconnects += 1
        present = getattr(flags, "session_present", False)
        log.info(
            "MQTT link up (session %d, protocol %s, session present %s)",
            self._session,
            self.state.protocol,
            present,
        )
        self.callbacks.on_up(self._session)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.state.up:
            if self._stop.is_set():
                log.info("MQTT link closed on stop")
            else:
                log.warning("MQTT link lost: %s", reason)
            self._mark_down()

    def _mark_down(self) -> None:
        self.state.up = False
        with self._sent_lock:
            self._sent_at.clear()
            self._subscribing.clear()
        self.callbacks.on_down()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.callbacks.on_message(message.topic, bytes(message.payload))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._sent_lock:
            sent = self._sent_at.pop(mid, None)
        if getattr(reason, "is_failure", False):
            # MQTT 5 only: the broker answered, but did not take the message (an ACL denial,
            # a quota). It is not acknowledged: an outbox row stays stored for the next replay.
            name = str(reason)
            self.state.publish_refused[name] = self.state.publish_refused.get(name, 0) + 1
            topic = sent[1] if sent is not None else "?"
            log.error("broker refused message %d on %s: %s", mid, topic, name)
            self.callbacks.on_refused(mid)
            return
        if sent is not None:
            rtt = (self._clock.monotonic() - sent[0]) * 1000
            prev = self.state.rtt_ms
            self.state.rtt_ms = rtt if prev is None else prev * 0.8 + rtt * 0.2
        self.callbacks.on_publish(mid)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, reasons: Any, _p: Any) -> None:
        with self._sent_lock:
            filters = self._subscribing.pop(mid, [])
        for index, reason in enumerate(reasons):
            if not getattr(reason, "is_failure", False):
                continue
            name = filters[index] if index < len(filters) else f"#{index}"
            self.state.subscribe_refused[name] = self.state.subscribe_refused.get(name, 0) + 1
            log.error("broker refused the subscription to %s: %s", name, reason)


def _password(settings: BrokerSettings) -> str | None:
    """The broker password from its file or variable; never logged."""
    import os

    if settings.password_file is not None:
        return settings.password_file.read_text().strip()
    if settings.password_env is not None:
        value = os.environ.get(settings.password_env)
        if value is None:
            log.error("broker password variable %s is not set", settings.password_env)
        return value
    return None


def _queue_writes_for_loop(_client: mqtt.Client, _userdata: Any, _sock: Any) -> None:
    """Registered so paho queues writes for the loop thread; its select() sees them."""


def _guard(name: str, callback: Callable[..., None]) -> Callable[..., None]:
    """Wrap a paho callback so an exception is logged and the network loop goes on."""

    def guarded(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("MQTT %s handler failed", name)

    return guarded
