"""The fleet's batch handlers, registered on a dispatcher by kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from controller.config import service as config
from controller.core.settings import Settings
from controller.core.types import utc_now
from controller.fleet import events, live, presence
from controller.fleet.known import KnownCameras
from controller.ingest.dispatcher import Dispatcher
from controller.jobs import service as jobs
from controller.mqtt import Publisher
from protocol import Kind

__all__ = ["register_fleet_handlers"]


def register_fleet_handlers(
    dispatcher: Dispatcher, settings: Settings, publisher: Publisher | None
) -> None:
    """Births, states, statuses, telemetry, events and config reports."""

    def births(session: Session, messages: Sequence[Any]) -> None:
        seen = presence.apply_births(session, messages)
        config.republish_if_behind(session, seen, publisher)
        jobs.republish_pending(session, [b for b, _ in seen], publisher, settings, utc_now())

    def states(session: Session, messages: Sequence[Any]) -> None:
        presence.apply_states(session, messages)

    known = KnownCameras()  # this writer's own writes: heartbeats skip reading the rows

    def statuses(session: Session, messages: Sequence[Any]) -> None:
        live.apply_statuses(session, messages, known)

    def telemetry(session: Session, messages: Sequence[Any]) -> None:
        live.apply_telemetry(session, messages)

    def box_events(session: Session, messages: Sequence[Any]) -> None:
        events.apply_events(session, messages, gap_alarm_s=settings.recording_gap_alarm_s)

    def reported(session: Session, messages: Sequence[Any]) -> None:
        config.record_reported(session, messages)

    dispatcher.register_batch(Kind.BIRTH, births)
    dispatcher.register_batch(Kind.STATE, states)
    dispatcher.register_batch(Kind.CAMERA_STATUS, statuses)
    dispatcher.register_batch(Kind.TELEMETRY, telemetry)
    dispatcher.register_batch(Kind.EVENT, box_events)
    dispatcher.register_batch(Kind.CONFIG_REPORTED, reported)
