"""Box events: stored exactly once by (box_id, boot_id, seq), then turned into alarms.

Historical (replayed) raise/clear events are stored but do not move alarms: the live status
that came since is the truth. Recording gaps are history by nature and always count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from controller.alarms import service as alarms
from controller.alarms.models import Severity
from controller.core.db import dialect_insert
from controller.core.metrics import INGEST_REJECTS
from controller.devices.models import Box
from controller.fleet.models import BoxEvent
from protocol import Event

__all__ = ["apply_events"]

log = logging.getLogger(__name__)


def apply_events(session: Session, events: Sequence[Event], *, gap_alarm_s: float) -> list[Event]:
    """Store new events, ignore ones already stored, act on the new; returns the new ones."""
    if not events:
        return []
    insert = dialect_insert(session)
    rows = [
        {
            "box_id": e.box_id,
            "boot_id": e.boot_id,
            "seq": e.seq,
            "type": e.body.type,
            "slot": getattr(e.body, "slot", None),
            "occurred_at": e.occurred_at,
            "historical": e.historical,
            "body": e.body.model_dump(mode="json"),
        }
        for e in events
    ]
    stmt = (
        insert(BoxEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["box_id", "boot_id", "seq"])
        .returning(BoxEvent.box_id, BoxEvent.boot_id, BoxEvent.seq)
    )
    stored = {(r[0], r[1], r[2]) for r in session.exec(stmt).all()}
    fresh: list[Event] = []
    taken: set[tuple[str, str, int]] = set()
    for event in events:
        key = (event.box_id, event.boot_id, event.seq)
        if key in stored and key not in taken:
            taken.add(key)
            fresh.append(event)
        else:
            INGEST_REJECTS.labels(reason="duplicate").inc()
    for event in fresh:
        _alarm_for(session, event, gap_alarm_s)
    return fresh


def _alarm_for(session: Session, event: Event, gap_alarm_s: float) -> None:
    body: Any = event.body
    box = session.get(Box, event.box_id)
    school_id = box.school_id if box is not None else None
    slot = getattr(body, "slot", None)
    base: dict[str, Any] = {"session": session, "box_id": event.box_id, "slot": slot}
    kind = body.type
    if kind == "recording_gap":
        length = (body.end - body.start).total_seconds()
        if length > gap_alarm_s:
            alarms.raise_alarm(
                **base,
                alarm_type="recording_gap",
                severity=Severity.MAJOR,
                message=f"{length:.0f} s not recorded from {body.start.isoformat()}: {body.reason}",
                school_id=school_id,
            )
        return
    if event.historical:
        return
    rule = _RULES.get(kind)
    if rule is None:
        return
    alarm_type, severity, raised = rule(body)
    if raised:
        alarms.raise_alarm(
            **base,
            alarm_type=alarm_type,
            severity=severity,
            message=_describe(body),
            school_id=school_id,
            at=event.occurred_at,
        )
    else:
        alarms.clear_alarm(**base, alarm_type=alarm_type, at=event.occurred_at)


def _describe(body: Any) -> str:
    fields = body.model_dump(mode="json", exclude={"type", "slot", "state"})
    detail = ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    return f"{body.type}" + (f": {detail}" if detail else "")


_RULES: dict[str, Any] = {
    "camera_offline": lambda b: ("camera_offline", Severity.MAJOR, True),
    "camera_stalled": lambda b: ("camera_offline", Severity.MAJOR, True),
    "camera_online": lambda b: ("camera_offline", Severity.MAJOR, False),
    "camera_fault": lambda b: (f"camera_fault_{b.problem}", Severity.MAJOR, b.state == "raised"),
    "quality_fault": lambda b: (f"quality_{b.fault.value}", Severity.MINOR, b.state == "raised"),
    "disk_pressure": lambda b: ("disk_pressure", Severity.MAJOR, b.state == "raised"),
    "storage_fault": lambda b: (f"storage_{b.problem}", Severity.CRITICAL, b.state == "raised"),
    "config_rejected": lambda b: ("config_rejected", Severity.MINOR, True),
    "config_applied": lambda b: ("config_rejected", Severity.MINOR, False),
}
