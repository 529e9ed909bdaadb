"""Box presence from births and online/offline states, with stale-will detection.

`session` grows on every connect; a `state=offline` whose session is older than the newest
birth's is a Last Will that lost the race with a reconnect, so it is dropped and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from controller.alarms import service as alarms
from controller.alarms.models import Severity
from controller.core.db import dialect_insert
from controller.core.metrics import record_reject
from controller.core.types import utc_now
from controller.devices.models import Box, Camera
from controller.fleet.firmware import firmware_below
from controller.fleet.models import StatusTransition
from controller.schools.models import School
from protocol import Birth, BoxState

__all__ = ["apply_births", "apply_states", "mark_box_offline"]

log = logging.getLogger(__name__)


def _box(session: Session, box_id: str) -> Box:
    box = session.get(Box, box_id)
    if box is None:
        box = Box(box_id=box_id)
        session.add(box)
        session.flush()
    return box


def _set_online(session: Session, box: Box, at: datetime) -> None:
    if not box.online:
        session.add(
            StatusTransition(
                box_id=box.box_id, slot=0, from_state="offline", to_state="online", at=at
            )
        )
        box.state_changed_at = at
    box.online = True
    box.offline_reason = None
    session.exec(update(Camera).where(col(Camera.box_id) == box.box_id).values(box_online=True))
    # Cameras that were only down because their box was: their long-outage alarm ends here.
    up = session.exec(
        select(Camera.slot).where(Camera.box_id == box.box_id, Camera.state == "online")
    ).all()
    alarms.clear_alarms(
        session,
        [(box.box_id, None, "box_offline")]
        + [(box.box_id, slot, "camera_offline_long") for slot in up],
        at=at,
    )


def mark_box_offline(session: Session, box: Box, *, reason: str, at: datetime) -> None:
    """Take a box offline: its cameras count as offline and a box_offline alarm is raised."""
    if box.online:
        session.add(
            StatusTransition(
                box_id=box.box_id, slot=0, from_state="online", to_state="offline", at=at
            )
        )
        box.state_changed_at = at
    box.online = False
    box.offline_reason = reason
    session.add(box)
    session.exec(update(Camera).where(col(Camera.box_id) == box.box_id).values(box_online=False))
    alarms.raise_alarm(
        session=session,
        box_id=box.box_id,
        slot=None,
        alarm_type="box_offline",
        severity=Severity.MAJOR,
        message=f"box offline ({reason})",
        school_id=box.school_id,
        at=at,
    )


def apply_births(
    session: Session, births: Sequence[Birth], *, firmware_minimums: dict[str, str]
) -> list[tuple[str, int]]:
    """Bring boxes online and record their inventory; returns (box_id, config_version) seen."""
    seen: list[tuple[str, int]] = []
    for birth in births:
        box = _box(session, birth.box_id)
        if birth.session < box.session:
            record_reject(
                "stale_birth",
                box_id=birth.box_id,
                detail=f"birth session {birth.session} < {box.session}",
            )
            continue
        now = utc_now()
        if birth.school and box.school_id is None:
            school = session.exec(select(School).where(School.code == birth.school)).first()
            if school is not None:
                box.school_id = school.id
        box.session = birth.session
        box.boot_id = birth.boot_id
        box.software_version = birth.software_version
        box.config_version = birth.config_version
        box.started_at = birth.started_at
        box.last_seen = now
        _set_online(session, box, now)
        session.add(box)
        _record_inventory(session, box, birth, firmware_minimums)
        seen.append((box.box_id, birth.config_version))
    session.flush()
    return seen


def _record_inventory(
    session: Session, box: Box, birth: Birth, firmware_minimums: dict[str, str]
) -> None:
    insert = dialect_insert(session)
    rows: list[dict[str, Any]] = []
    clears: list[tuple[str, int | None, str]] = []
    for cam in birth.cameras:
        values = {
            "name": cam.name,
            "enabled": cam.enabled,
            "profile": cam.profile,
            "vendor": cam.vendor,
            "model": cam.model,
            "firmware": cam.firmware,
            "capabilities": cam.capabilities.model_dump(),
            "school_id": box.school_id,
            "box_online": True,
        }
        rows.append({"box_id": box.box_id, "slot": cam.slot, **values})
        minimum = firmware_minimums.get(cam.profile or "")
        if minimum and cam.firmware and firmware_below(cam.firmware, minimum):
            alarms.raise_alarm(
                session=session,
                box_id=box.box_id,
                slot=cam.slot,
                alarm_type="firmware_outdated",
                severity=Severity.MINOR,
                message=f"firmware {cam.firmware} below {cam.profile} minimum {minimum}",
                school_id=box.school_id,
            )
        else:
            clears.append((box.box_id, cam.slot, "firmware_outdated"))
    if rows:
        stmt = insert(Camera)
        session.connection().execute(
            stmt.on_conflict_do_update(
                index_elements=["box_id", "slot"],
                set_={k: stmt.excluded[k] for k in rows[0] if k not in ("box_id", "slot")},
            ),
            rows,
        )
    alarms.clear_alarms(session, clears)


def apply_states(session: Session, states: Sequence[BoxState]) -> None:
    """Online/offline flags; a will older than the newest birth is dropped and counted."""
    for state in states:
        box = _box(session, state.box_id)
        if state.session < box.session:
            record_reject(
                "stale_will" if state.state == "offline" else "stale_state",
                box_id=state.box_id,
                detail=f"state {state.state} for session {state.session} < {box.session}",
            )
            continue
        box.session = state.session
        now = utc_now()
        box.last_seen = now
        if state.state == "online":
            _set_online(session, box, now)
            session.add(box)
        else:
            mark_box_offline(session, box, reason=state.reason, at=now)
    session.flush()
