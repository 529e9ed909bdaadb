"""The edge box's link to the centre: MQTT presence, outbox, reporting, config, commands, jobs.

The composition root builds one `LinkService(config)`, hands `link.sink` to the pipeline,
calls `link.start(pipeline)` and, on shutdown, `link.stop()`. See docs/agent-link.md.
"""

from agent.link.clock import Clock, ManualClock, SystemClock
from agent.link.service import LinkService

__all__ = ["Clock", "LinkService", "ManualClock", "SystemClock"]
