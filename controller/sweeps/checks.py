"""Derived checks over the fleet's state: silent boxes, cameras offline too long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_
from sqlmodel import Session, col, select

from controller.alarms.bulk import apply_moves, raise_
from controller.alarms.models import Alarm, Severity
from controller.core.metrics import BOXES_ONLINE
from controller.devices.models import Box, Camera
from controller.fleet.live import OFFLINE_STATES
from controller.fleet.presence import mark_boxes_offline

__all__ = ["camera_offline_long", "silent_boxes", "update_gauges"]

log = logging.getLogger(__name__)


def silent_boxes(session: Session, *, now: datetime, silent_s: float) -> int:
    """Boxes online but unheard for `silent_s` go offline (their will may never arrive)."""
    cutoff = now - timedelta(seconds=silent_s)
    boxes = session.exec(
        select(Box).where(col(Box.online).is_(True), col(Box.last_seen) < cutoff)
    ).all()
    if boxes:
        mark_boxes_offline(session, boxes, reason="silent", at=now)
    return len(boxes)


def camera_offline_long(session: Session, *, now: datetime, after_s: float) -> int:
    """Raise `camera_offline_long` for cameras down (or behind an offline box) > after_s."""
    cutoff = now - timedelta(seconds=after_s)
    already = exists().where(
        col(Alarm.box_id) == col(Camera.box_id),
        col(Alarm.slot) == col(Camera.slot),
        col(Alarm.type) == "camera_offline_long",
        col(Alarm.active).is_(True),
    )
    down_camera = and_(col(Camera.state).in_(OFFLINE_STATES), col(Camera.since) < cutoff)
    down_box = and_(
        col(Camera.box_online).is_(False),
        col(Camera.box_id).in_(
            select(Box.box_id).where(col(Box.online).is_(False), col(Box.state_changed_at) < cutoff)
        ),
    )
    cameras = session.exec(
        select(Camera).where(col(Camera.enabled), or_(down_camera, down_box), ~already)
    ).all()
    message = f"camera offline for more than {after_s:.0f} s"
    apply_moves(
        session,
        [
            raise_(
                c.box_id,
                c.slot,
                "camera_offline_long",
                Severity.CRITICAL,
                message,
                c.school_id,
                now,
            )
            for c in cameras
        ],
    )
    return len(cameras)


def update_gauges(session: Session) -> None:
    online = session.exec(select(func.count()).select_from(Box).where(col(Box.online))).one()
    BOXES_ONLINE.set(online)
