"""The composition root: builds the app, the MQTT link, ingest and sweeps; starts and stops
them in order."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from controller.app import create_app
from controller.commands.replies import BoxReplyRoutes, ReplyWaiters
from controller.core.db import make_engine
from controller.core.settings import Settings
from controller.ingest.service import Ingest
from controller.jobs.progress import register_job_handlers
from controller.mqtt import ControllerMqtt
from controller.sweeps.runner import SweepRunner
from protocol import Kind

__all__ = ["Controller"]

log = logging.getLogger(__name__)


class Controller:
    """One controller process: API always, ingest and sweeps when asked."""

    def __init__(self, settings: Settings, *, ingest: bool = True) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.mqtt = ControllerMqtt(
            settings.broker_url,
            client_id=settings.broker_client_id,
            username=settings.broker_username,
            password=settings.broker_password,
            ca_file=str(settings.broker_ca_file) if settings.broker_ca_file else None,
            shared_group=settings.shared_group,
            protocol_version=settings.broker_protocol,
        )
        self.ingest = Ingest(settings, self.engine, self.mqtt) if ingest else None
        self.sweeps = SweepRunner(settings, self.engine) if ingest else None
        self.app: FastAPI = create_app(settings, engine=self.engine, publisher=self.mqtt)
        # Commands: replies reach the waiting request through ingest or the box's reply topic.
        self.command_replies = ReplyWaiters()
        self.app.state.command_replies = self.command_replies
        self.app.state.command_routes = BoxReplyRoutes(self.mqtt.client, self.command_replies)
        if self.ingest is not None:
            self.ingest.dispatcher.register_direct(Kind.COMMAND_REPLY, self.command_replies.handle)
            register_job_handlers(self.ingest.dispatcher)

    def start(self, wait_s: float = 10.0) -> bool:
        """Start everything; True when the broker link came up within `wait_s`."""
        if self.ingest is not None:
            self.ingest.start()
        connected = self.mqtt.start(wait_s)
        if not connected:
            log.warning("broker not reachable yet; retrying in the background")
        if self.sweeps is not None:
            self.sweeps.start()
        return connected

    def stop(self) -> None:
        if self.sweeps is not None:
            self.sweeps.stop()
        self.mqtt.stop()
        if self.ingest is not None:
            self.ingest.stop()
        self.engine.dispose()
