"""An embedded MQTT broker for the demo: the pure-Python `amqtt` broker, no external service.

`amqtt` 0.12 speaks MQTT 3.1.1 only (a CONNECT with protocol level 5 is refused), keeps
retained messages in memory, delivers Last Wills and has no shared subscriptions. That is all
the demo needs; a real deployment uses Mosquitto or a cluster broker (`--broker URL`).

The broker runs on its own asyncio loop in its own thread, so it can live inside the demo
process next to threaded components (paho clients, uvicorn) without sharing their loop.

amqtt 0.12 walks its subscription table across awaits (sending retained messages to a client
that just connected, broadcasting a publish). When another client subscribes meanwhile, the
walk fails with "dictionary changed size during iteration" and the connecting client is
dropped; with the demo's fleet connecting at once that was most of it. The table is replaced
by one whose walks go over a copy, which is what those loops mean.

It also sends a client that connects the retained messages matching *any* client's filters,
so every agent was handed every box's retained state. Retained messages now go only to a
session that holds the filter (on SUBSCRIBE it is added before they are sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["BrokerStartError", "EmbeddedBroker"]

log = logging.getLogger(__name__)


class BrokerStartError(RuntimeError):
    """The embedded broker did not come up (port taken, bad configuration...)."""


class _SnapshotTable(dict[str, Any]):
    """A dict whose iteration and views are copies, so an await inside a walk is safe."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def keys(self) -> list[str]:  # type: ignore[override]
        return list(dict.keys(self))

    def values(self) -> list[Any]:  # type: ignore[override]
        return list(dict.values(self))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(dict.items(self))


def _mend(broker: Any) -> None:
    """Work around the two amqtt 0.12 faults the module docstring describes."""
    table = _SnapshotTable(broker._subscriptions)
    broker._subscriptions = table
    send_retained = broker._publish_retained_messages_for_subscription

    async def send_retained_if_held(subscription: tuple[str, int], session: Any) -> None:
        holders = table.get(subscription[0], ())
        if any(held.client_id == session.client_id for held, _qos in holders):
            await send_retained(subscription, session)

    broker._publish_retained_messages_for_subscription = send_retained_if_held


class EmbeddedBroker:
    """An anonymous MQTT 3.1.1 broker on `host:port` (port 0 picks a free one).

    `start()` returns once the port accepts connections; `stop()` shuts the broker down and
    joins its thread. Retained messages live only as long as the broker.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 10.0):
        self.host = host
        self.port = port
        self._start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The broker's URL as schoolcam components take it."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set()

    def start(self) -> None:
        """Start the broker thread and wait until it listens; BrokerStartError otherwise."""
        if self._thread is not None:
            return
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout) or self._error is not None:
            error = self._error
            self.stop()
            raise BrokerStartError(
                f"embedded broker did not start on {self.host}:{self.port}: {error or 'timeout'}"
            ) from error
        log.info("embedded MQTT broker listening on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down (clients see their connection close) and join its thread."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None:
            return
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed since the check
                loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout)
        if thread.is_alive():
            log.error("embedded broker thread did not stop within %.0f s", timeout)
        self._thread = None
        self._ready.clear()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start(), logged for a running broker
            self._error = exc
            if self._ready.is_set():
                log.exception("embedded broker failed")
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        from amqtt.broker import Broker  # imported here: only the demo needs amqtt

        self._stopped = asyncio.Event()
        config = {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 0}
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        broker = Broker(config, loop=asyncio.get_running_loop())
        _mend(broker)
        self._broker = broker
        await broker.start()
        if self.port == 0:
            server = broker._servers["default"].instance
            self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await broker.shutdown()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
