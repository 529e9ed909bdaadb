"""LinkService: the edge box's whole link to the centre, started and stopped as one role.

It owns the MQTT connection, the outbox and its drainer, the reporter (the pipeline's
EventSink), configuration push, commands and clip-export jobs. Messages arriving on the box's
topics are decoded off the network thread; anything malformed or foreign is refused, logged,
counted by reason and (when it can be answered) answered, and never stops the box.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.interfaces import EventSink, Pipeline
from agent.link.client import LinkCallbacks, MqttLink
from agent.link.clock import Clock, SystemClock
from agent.link.commands import CommandRunner
from agent.link.config_sync import ConfigSync
from agent.link.drain import OutboxDrainer
from agent.link.jobs import JobRunner, JobStore
from agent.link.outbox import Outbox
from agent.link.publisher import Publisher
from agent.link.reporter import Reporter
from agent.link.session import Session
from agent.link.uploader import Uploader
from agent.metrics import SystemMetrics
from protocol import (
    Birth,
    BoxState,
    CommandRequest,
    ConfigDesired,
    JobRequest,
    Kind,
    ProtocolError,
    __version__,
    decode,
    encode,
    parse_topic,
    topic_for,
)
from protocol.topics import agent_subscriptions

__all__ = ["LinkService"]

log = logging.getLogger(__name__)

INBOX_LIMIT = 1000
COMMAND_WORKERS = 4


class LinkService:
    """The agent's link role; `sink` is what the pipeline reports to."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock | None = None,
        telemetry_figures: Callable[[], dict[str, Any]] | None = None,
        uploader: Uploader | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        state_dir = config.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.session = Session(state_dir, self.clock)
        box = config.outbox
        self.outbox = Outbox(
            state_dir / "outbox.sqlite3",
            max_events=box.max_events,
            max_bytes=box.max_bytes,
            drop_policy=box.drop_policy,
            clock=self.clock,
        )
        self.link = MqttLink(
            config.box_id,
            config.broker,
            LinkCallbacks(
                will=self._will,
                on_up=self._on_up,
                on_down=self._on_down,
                on_message=self._on_message,
                on_publish=self._on_publish,
                on_refused=self._on_refused,
            ),
            next_session=self.session.next_session,
            clock=self.clock,
        )
        self.drainer = OutboxDrainer(
            self.outbox,
            self.link,
            rate_per_s=box.drain_per_s,
            max_inflight=box.max_inflight,
            clock=self.clock,
        )
        self.publisher = Publisher(
            config.box_id, self.session, self.link, self.outbox, self.drainer, self.clock
        )
        self.config_sync = ConfigSync(state_dir, self.publisher, config.box_config())
        storage = config.storage.path
        self.reporter = Reporter(
            self.publisher,
            reporting=lambda: self.config_sync.applied.config.reporting,
            telemetry_figures=telemetry_figures or _system_figures(storage),
            clock=self.clock,
        )
        self.commands = CommandRunner(
            self.publisher, cameras=lambda: list(self.config_sync.applied.config.cameras)
        )
        self.jobs = JobRunner(
            JobStore(state_dir / "jobs.sqlite3"),
            self.publisher,
            state_dir / "exports",
            uploader or Uploader(),
        )
        self.rejected: Counter[str] = Counter()
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue(INBOX_LIMIT)
        self._executor: ThreadPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._pipeline: Pipeline | None = None
        self._stopped = threading.Event()

    @property
    def sink(self) -> EventSink:
        """Where the pipeline reports events and camera changes."""
        return self.reporter

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, pipeline: Pipeline) -> None:
        """Bind the pipeline, run the last good config if any, and connect."""
        self._pipeline = pipeline
        self.config_sync.start(pipeline)
        self.commands.bind(pipeline)
        self._executor = ThreadPoolExecutor(COMMAND_WORKERS, thread_name_prefix="link-cmd")
        self._dispatcher = threading.Thread(target=self._dispatch, name="link-inbox", daemon=True)
        self._dispatcher.start()
        self.drainer.start()
        self.reporter.start(pipeline)
        self.jobs.start(pipeline)
        self.link.start()
        log.info("link started for box %s (boot %s)", self.config.box_id, self.session.boot_id)

    def stop(self, timeout: float = 5.0) -> None:
        """Publish `offline`, stop every thread and close the stores, within `timeout`."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        share = max(0.5, timeout / 5)
        self.reporter.stop(share)
        self.jobs.stop(share)
        with contextlib.suppress(queue.Full):
            self._inbox.put_nowait(None)
        if self._dispatcher is not None:
            self._dispatcher.join(share)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self.drainer.stop(share)
        farewell = self._state("offline", "shutdown", self.link.session)
        self.link.stop((topic_for(farewell), encode(farewell)), timeout=share * 2)
        self.outbox.close()
        self.jobs.store.close()
        log.info("link stopped")

    def metrics(self) -> dict[str, Any]:
        """The link's figures: state, reconnects, outbox, refusals, uplink RTT."""
        state = self.link.state
        return {
            "link_up": state.up,
            "link_connects": state.connects,
            "link_reconnects": state.reconnects,
            "link_refusals": dict(state.refusals),
            "link_publish_refused": dict(state.publish_refused),
            "link_subscribe_refused": dict(state.subscribe_refused),
            "link_protocol": state.protocol,
            "uplink_rtt_ms": state.rtt_ms,
            "link_backoff_s": state.backoff_s,
            "session": self.link.session,
            "boot_id": self.session.boot_id,
            "outbox_backlog": self.outbox.backlog,
            "outbox_bytes": self.outbox.backlog_bytes,
            "outbox_dropped": self.outbox.dropped,
            "outbox_inflight": self.drainer.inflight,
            "outbox_sent": self.drainer.sent,
            "outbox_replayed": self.drainer.replayed,
            "outbox_refused": self.drainer.refused_count,
            "live_skipped": self.publisher.live_skipped,
            "events_recorded": self.reporter.events_recorded,
            "events_refused": self.reporter.events_refused,
            "rejected_messages": dict(self.rejected),
            "commands_handled": self.commands.handled,
            "commands_failed": dict(self.commands.failed),
            "config_version": self.config_sync.applied.version,
            "config_rejected": self.config_sync.rejected,
        }

    # -- presence ------------------------------------------------------------------------

    def _state(self, state: str, reason: str, session: int) -> BoxState:
        return BoxState(
            **self.publisher.envelope(),
            state=state,
            session=session,
            reason=reason,
        )

    def _will(self, session: int) -> tuple[str, bytes]:
        will = self._state("offline", "connection_lost", session)
        return topic_for(will), encode(will)

    def _on_up(self, session: int) -> None:
        self.link.subscribe(agent_subscriptions(self.config.box_id))
        inventory = self._pipeline.inventory() if self._pipeline is not None else []
        birth = Birth(
            **self.publisher.envelope(),
            software_version=__version__,
            session=session,
            started_at=self.session.started_at,
            config_version=self.config_sync.applied.version,
            school=self.config.school,
            cameras=inventory,
        )
        self.publisher.live(birth)
        self.publisher.live(self._state("online", "connected", session))
        self.drainer.link_up()
        self.reporter.link_up()

    def _on_down(self) -> None:
        self.drainer.link_down()

    def _on_publish(self, mid: int) -> None:
        self.drainer.acknowledged(mid)

    def _on_refused(self, mid: int) -> None:
        self.drainer.refused(mid)

    # -- inbound -------------------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            self._inbox.put_nowait((topic, payload))
        except queue.Full:
            self.rejected["overload"] += 1
            log.warning("inbound queue full; message on %s dropped", topic)

    def _dispatch(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None or self._stopped.is_set():
                return
            try:
                self._route(*item)
            except Exception:
                log.exception("handling a message on %s failed", item[0])

    def _route(self, topic: str, payload: bytes) -> None:
        try:
            message = decode(topic, payload)
        except ProtocolError as exc:
            self._refuse(topic, exc)
            return
        if isinstance(message, ConfigDesired):
            self.config_sync.handle(message)
        elif isinstance(message, CommandRequest):
            assert self._executor is not None
            self._executor.submit(self._guarded, self.commands.handle, message)
        elif isinstance(message, JobRequest):
            self.jobs.submit(message)
        else:
            self.rejected["foreign"] += 1
            log.warning("unexpected %s message on %s ignored", message.kind, topic)

    def _refuse(self, topic: str, error: ProtocolError) -> None:
        self.rejected[error.reason] += 1
        log.warning("refused message on %s: %s", topic, error)
        try:
            kind = parse_topic(topic).kind
        except ProtocolError:
            return
        if kind is Kind.COMMAND_REQUEST and error.reason != "box_mismatch":
            self.commands.refuse(error)
        elif kind is Kind.CONFIG_DESIRED and error.reason != "box_mismatch":
            self.config_sync.refuse_undecodable(error)

    @staticmethod
    def _guarded(handler: Callable[[Any], None], message: Any) -> None:
        try:
            handler(message)
        except Exception:
            log.exception("command handler failed")


def _system_figures(storage: Path) -> Callable[[], dict[str, Any]]:
    """Telemetry figures from the agent's system-metrics sampler (CPU between two calls)."""
    metrics = SystemMetrics(storage)
    return lambda: metrics.sample().telemetry_fields()
