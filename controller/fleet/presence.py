"""Box presence from births and online/offline states, with stale-will detection.

`session` grows on every connect; a `state=offline` whose session is older than the newest
birth's is a Last Will that lost the race with a reconnect, so it is dropped and counted.
A batch's births and states are walked in order on the box rows (one SELECT), then written
with a few statements for all boxes at once: a district's first contact is thousands of births.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from controller.alarms.bulk import AlarmMove, apply_moves, clear, raise_
from controller.alarms.models import Severity
from controller.core.db import dialect_insert
from controller.core.metrics import record_reject
from controller.core.types import utc_now
from controller.devices.models import Box, Camera
from controller.fleet.firmware import judge_firmware
from controller.fleet.live import ensure_boxes
from controller.fleet.models import StatusTransition
from controller.schools.models import School
from protocol import Birth, BoxState

__all__ = ["apply_births", "apply_states", "mark_box_offline", "mark_boxes_offline"]

log = logging.getLogger(__name__)


def _boxes(session: Session, box_ids: set[str]) -> dict[str, Box]:
    ensure_boxes(session, box_ids)
    rows = session.exec(select(Box).where(col(Box.box_id).in_(sorted(box_ids)))).all()
    return {b.box_id: b for b in rows}


class _Presence:
    """Collects what a batch does to boxes, then writes it for all boxes at once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.moves: list[AlarmMove] = []
        self.final: dict[str, bool] = {}

    def online(self, box: Box, at: datetime) -> None:
        if not box.online:
            self.session.add(
                StatusTransition(
                    box_id=box.box_id, slot=0, from_state="offline", to_state="online", at=at
                )
            )
            box.state_changed_at = at
        box.online = True
        box.offline_reason = None
        self.final[box.box_id] = True
        self.moves.append(clear(box.box_id, None, "box_offline", at))

    def offline(self, box: Box, reason: str, at: datetime) -> None:
        if box.online:
            self.session.add(
                StatusTransition(
                    box_id=box.box_id, slot=0, from_state="online", to_state="offline", at=at
                )
            )
            box.state_changed_at = at
        box.online = False
        box.offline_reason = reason
        self.final[box.box_id] = False
        self.moves.append(
            raise_(
                box.box_id,
                None,
                "box_offline",
                Severity.MAJOR,
                f"box offline ({reason})",
                box.school_id,
                at,
            )
        )

    def write(self, at: datetime) -> None:
        """Cameras follow their box's flag; cameras back online end their long-outage alarm."""
        session = self.session
        session.flush()
        for flag in (True, False):
            ids = sorted(b for b, f in self.final.items() if f is flag)
            if ids:
                session.exec(
                    update(Camera).where(col(Camera.box_id).in_(ids)).values(box_online=flag)
                )
        up_boxes = sorted(b for b, f in self.final.items() if f)
        if up_boxes:
            up = session.exec(
                select(Camera.box_id, Camera.slot).where(
                    col(Camera.box_id).in_(up_boxes), Camera.state == "online"
                )
            ).all()
            self.moves += [clear(b, s, "camera_offline_long", at) for b, s in up]
        apply_moves(session, self.moves)


def mark_boxes_offline(
    session: Session, boxes: Sequence[Box], *, reason: str, at: datetime
) -> None:
    """Take boxes offline: their cameras count as offline and box_offline alarms are raised."""
    presence = _Presence(session)
    for box in boxes:
        presence.offline(box, reason, at)
        session.add(box)
    presence.write(at)


def mark_box_offline(session: Session, box: Box, *, reason: str, at: datetime) -> None:
    """Take one box offline (the sweep's silent boxes)."""
    mark_boxes_offline(session, [box], reason=reason, at=at)


def apply_births(session: Session, births: Sequence[Birth]) -> list[tuple[str, int]]:
    """Bring boxes online and record their inventory; returns (box_id, config_version) seen."""
    if not births:
        return []
    boxes = _boxes(session, {b.box_id for b in births})
    codes = sorted({b.school for b in births if b.school})
    schools: dict[str, int] = {}
    if codes:
        rows = session.exec(select(School.code, School.id).where(col(School.code).in_(codes)))
        schools = {code: school_id for code, school_id in rows.all() if school_id is not None}
    presence = _Presence(session)
    inventory: dict[tuple[str, int], dict[str, Any]] = {}
    firmware_moves: list[AlarmMove] = []
    seen: list[tuple[str, int]] = []
    now = utc_now()
    for birth in births:
        box = boxes[birth.box_id]
        if birth.session < box.session:
            record_reject(
                "stale_birth",
                box_id=birth.box_id,
                detail=f"birth session {birth.session} < {box.session}",
            )
            continue
        if birth.school and box.school_id is None:
            box.school_id = schools.get(birth.school)
        box.session = birth.session
        box.boot_id = birth.boot_id
        box.software_version = birth.software_version
        box.config_version = birth.config_version
        box.started_at = birth.started_at
        box.last_seen = now
        presence.online(box, now)
        session.add(box)
        for cam in birth.cameras:
            inventory[(box.box_id, cam.slot)] = {
                "box_id": box.box_id,
                "slot": cam.slot,
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
            firmware_moves += _firmware_moves(box, cam.slot, cam.profile, cam.firmware)
        seen.append((box.box_id, birth.config_version))
    if inventory:
        insert = dialect_insert(session)
        stmt = insert(Camera)
        columns = [k for k in next(iter(inventory.values())) if k not in ("box_id", "slot")]
        session.connection().execute(
            stmt.on_conflict_do_update(
                index_elements=["box_id", "slot"], set_={k: stmt.excluded[k] for k in columns}
            ),
            list(inventory.values()),
        )
    presence.moves += firmware_moves
    presence.write(now)
    return seen


def _firmware_moves(
    box: Box, slot: int, profile: str | None, firmware: str | None
) -> list[AlarmMove]:
    """Raise or clear the camera's two firmware alarms by its profile's verdict."""
    verdict = judge_firmware(profile, firmware)
    if not verdict.known:
        return [
            clear(box.box_id, slot, "firmware_outdated"),
            clear(box.box_id, slot, "firmware_vulnerable"),
        ]
    moves = [
        raise_(
            box.box_id,
            slot,
            "firmware_outdated",
            Severity.MINOR,
            f"firmware {firmware} below the {profile} profile's minimum {verdict.minimum}",
            box.school_id,
        )
        if verdict.outdated
        else clear(box.box_id, slot, "firmware_outdated")
    ]
    if verdict.vulnerabilities:
        moves.append(
            raise_(
                box.box_id,
                slot,
                "firmware_vulnerable",
                Severity.MAJOR,
                f"firmware {firmware} has known weaknesses: {', '.join(verdict.vulnerabilities)}",
                box.school_id,
            )
        )
    else:
        moves.append(clear(box.box_id, slot, "firmware_vulnerable"))
    return moves


def apply_states(session: Session, states: Sequence[BoxState]) -> None:
    """Online/offline flags; a will older than the newest birth is dropped and counted."""
    if not states:
        return
    boxes = _boxes(session, {s.box_id for s in states})
    presence = _Presence(session)
    now = utc_now()
    for state in states:
        box = boxes[state.box_id]
        if state.session < box.session:
            record_reject(
                "stale_will" if state.state == "offline" else "stale_state",
                box_id=state.box_id,
                detail=f"state {state.state} for session {state.session} < {box.session}",
            )
            continue
        box.session = state.session
        box.last_seen = now
        if state.state == "online":
            presence.online(box, now)
        else:
            presence.offline(box, state.reason, now)
        session.add(box)
    presence.write(now)
