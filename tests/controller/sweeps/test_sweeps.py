"""Derived checks driven by an injected clock, and the lease that runs them once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from controller.alarms.models import Alarm
from controller.core.settings import Settings
from controller.devices.models import Box
from controller.sweeps.runner import SweepRunner
from protocol import CameraState
from tests.controller.messages import BoxSpeaker
from tests.controller.seed import ingest_messages


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _active(engine: Engine, alarm_type: str) -> list[Alarm]:
    with Session(engine) as session:
        stmt = select(Alarm).where(Alarm.type == alarm_type, col(Alarm.active))
        return list(session.exec(stmt).all())


def test_camera_offline_long_and_silent_box(engine: Engine, settings: Settings) -> None:
    speaker = BoxSpeaker("mh-0001-a")
    ingest_messages(
        engine,
        settings,
        [speaker.birth(slots=2), speaker.status(1), speaker.status(2, CameraState.OFFLINE)],
    )
    clock = Clock(speaker.now + timedelta(seconds=60))
    runner = SweepRunner(settings, engine, clock=clock, holder="a")
    assert runner.run_once()
    assert _active(engine, "camera_offline_long") == []

    clock.now = speaker.now + timedelta(seconds=settings.camera_offline_alarm_s + 1)
    assert runner.run_once()
    [alarm] = _active(engine, "camera_offline_long")
    assert (alarm.box_id, alarm.slot) == ("mh-0001-a", 2)
    assert runner.run_once()
    assert len(_active(engine, "camera_offline_long")) == 1  # one active per (source, type)

    clock.now = clock.now + timedelta(seconds=settings.box_silent_s + 1)
    assert runner.run_once()
    with Session(engine) as session:
        box = session.get(Box, "mh-0001-a")
        assert box is not None and not box.online and box.offline_reason == "silent"
    assert len(_active(engine, "box_offline")) == 1

    # The camera comes back: both offline alarms clear.
    ingest_messages(engine, settings, [speaker.birth(slots=2), speaker.status(2)])
    assert _active(engine, "camera_offline_long") == []
    assert _active(engine, "box_offline") == []


def test_only_one_replica_holds_the_lease(engine: Engine, settings: Settings) -> None:
    clock = Clock(BoxSpeaker("x").now)
    first = SweepRunner(settings, engine, clock=clock, holder="first")
    second = SweepRunner(settings, engine, clock=clock, holder="second")
    assert first.run_once()
    assert not second.run_once()
    assert first.run_once()
    clock.now += timedelta(minutes=5)  # first replica died: its lease runs out
    assert second.run_once()
    assert not first.run_once()
