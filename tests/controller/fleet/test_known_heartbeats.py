"""The writer's memory of its own writes: heartbeats skip the read, and are never trusted blindly.

Runs on SQLite and PostgreSQL. A remembered camera's heartbeat is one conditional UPDATE; if
anything else wrote the camera meanwhile (another controller replica), the condition fails
and the status takes the full path, so the live state and its history stay exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, select

from controller.core.settings import Settings
from controller.devices.models import Camera
from controller.fleet import live
from controller.fleet.known import KnownCameras
from controller.fleet.models import StatusTransition
from protocol import CameraState, CameraStatus
from tests.controller.messages import BoxSpeaker
from tests.controller.seed import ingest_messages

BOX = "mh-0001-a"


def _write(engine: Engine, statuses: Sequence[CameraStatus], known: KnownCameras | None) -> int:
    with Session(engine) as session:
        changed = live.apply_statuses(session, statuses, known)
        session.commit()
    return changed


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _born(engine: Engine, settings: Settings, slots: int) -> tuple[BoxSpeaker, KnownCameras]:
    """A box that has sent its birth, and a writer memory that knows none of its cameras."""
    box = BoxSpeaker(BOX, school="mh-0001")
    ingest_messages(engine, settings, [box.birth(slots=slots)])
    return box, KnownCameras()


def _beat(box: BoxSpeaker, first: CameraStatus) -> CameraStatus:
    """The next status of `first`'s camera, saying nothing new (the state's `since` kept)."""
    return box.status(first.slot).model_copy(update={"since": first.since})


def _camera(engine: Engine, slot: int) -> Camera:
    with Session(engine) as session:
        return session.exec(select(Camera).where(Camera.box_id == BOX, Camera.slot == slot)).one()


def test_a_remembered_heartbeat_is_written_without_reading_the_row(
    engine: Engine, settings: Settings
) -> None:
    box, known = _born(engine, settings, slots=2)
    firsts = [box.status(1), box.status(2)]
    _write(engine, firsts, known)
    assert len(known) == 2
    box.tick(10)
    beats = [_beat(box, first) for first in firsts]
    with _statements(engine) as seen:
        assert _write(engine, beats, known) == 2
    assert not [s for s in seen if s.startswith("select") and "from camera" in s], seen
    for beat in beats:
        camera = _camera(engine, beat.slot)
        assert camera.status_at == beat.sent_at
        assert camera.last_packet_at == beat.last_packet_at


def test_a_camera_written_elsewhere_meanwhile_takes_the_full_path(
    engine: Engine, settings: Settings
) -> None:
    box, known = _born(engine, settings, slots=1)
    first = box.status(1)
    _write(engine, [first], known)  # remembered: online
    box.tick(10)
    _write(engine, [box.status(1, CameraState.OFFLINE)], None)  # another replica's writer
    box.tick(10)
    back = _beat(box, first)  # repeats what this writer remembers, not what the row holds
    _write(engine, [back], known)

    camera = _camera(engine, 1)
    assert camera.state == "online"
    assert camera.status_at == back.sent_at
    with Session(engine) as session:
        moves = session.exec(
            select(StatusTransition.from_state, StatusTransition.to_state)
            .where(StatusTransition.slot == 1)
            .order_by(
                StatusTransition.id  # type: ignore[arg-type]
            )
        ).all()
    assert [tuple(m) for m in moves] == [
        ("unknown", "online"),
        ("online", "offline"),
        ("offline", "online"),
    ]


def test_a_changed_status_of_a_remembered_camera_is_not_a_heartbeat(
    engine: Engine, settings: Settings
) -> None:
    box, known = _born(engine, settings, slots=1)
    _write(engine, [box.status(1)], known)
    box.tick(10)
    _write(engine, [box.status(1, CameraState.STALLED)], known)
    assert _camera(engine, 1).state == "stalled"


def _with_figures(status: CameraStatus, bitrate: float, fps: float) -> CameraStatus:
    assert status.stream is not None
    stream = status.stream.model_copy(update={"bitrate_kbps": bitrate, "fps": fps})
    return status.model_copy(update={"stream": stream})


def test_new_stream_figures_ride_on_the_heartbeat(engine: Engine, settings: Settings) -> None:
    """A camera's measured fps and bitrate move in every status: that is still a heartbeat
    (no read, no rewrite of the row), and the camera shows the newest figures."""
    box, known = _born(engine, settings, slots=1)
    first = box.status(1)
    _write(engine, [first], known)
    for n, memory in enumerate((known, None)):  # the remembered path, then the full path
        box.tick(10)
        beat = _with_figures(_beat(box, first), bitrate=3900.0 + n, fps=24.5 + n)
        with _statements(engine) as seen:
            _write(engine, [beat], memory)
        writes = [s for s in seen if s.startswith(("insert", "update camera"))]
        assert writes and all(s.startswith("update camera set status_at") for s in writes), seen
        if memory is not None:
            assert not [s for s in seen if s.startswith("select") and "from camera" in s]
        camera = _camera(engine, 1)
        assert camera.status_at == beat.sent_at
        assert camera.stream is not None
        assert camera.stream["bitrate_kbps"] == 3900.0 + n and camera.stream["fps"] == 24.5 + n
        assert camera.stream["width"] == 1920
