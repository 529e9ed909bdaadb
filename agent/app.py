"""The composition root: builds the link and the camera pipeline and runs until told to stop.

Roles are built here and nowhere else. The link comes first because its `.sink` (outbox
first, then MQTT) is where the pipeline reports; it is started after the pipeline, so the
birth lists the cameras, and stopped before it, so the last statuses still go out.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from agent.config import AgentConfig
from agent.link import LinkService
from agent.pipeline import CameraPipeline
from protocol import redact_url

__all__ = ["AgentApp"]

log = logging.getLogger(__name__)


class AgentApp:
    """Starts and stops the agent's roles; `run()` blocks until SIGTERM/SIGINT or `stop()`."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.link = LinkService(config)
        self.pipeline = CameraPipeline(config.box_config(), config.storage.path, self.link.sink)
        self._stop = threading.Event()

    def start(self) -> None:
        log.info(
            "agent %s (school %s) starting with %d cameras: %s",
            self.config.box_id,
            self.config.school,
            len(self.config.cameras),
            ", ".join(redact_url(c.url) for c in self.config.cameras) or "none",
        )
        self.pipeline.start()
        self.link.start(self.pipeline)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until a signal or `stop()`; then stop every role, pipeline last."""
        previous = {}

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self._stop.set()

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        self.start()
        try:
            self._stop.wait()
        finally:
            self.link.stop(timeout=3)
            self.pipeline.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("agent stopped")
