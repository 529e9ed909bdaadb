"""Desired config per box = defaults of its school type merged under the box's own document.

Every change gets a new version, is validated as a `protocol.BoxConfig` before it is stored,
and is published retained; a box that reports an older version at birth gets it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, select

from controller.auth.scope import Scope
from controller.config.models import BoxConfigRecord, ConfigDefault
from controller.core.errors import Invalid, NotFound
from controller.core.types import utc_now
from controller.devices.models import Box
from controller.devices.service import get_box
from controller.mqtt import Publisher
from controller.schools.models import School, SchoolType
from protocol import BoxConfig, ConfigDesired, ConfigReported

__all__ = [
    "get_box_config",
    "get_default",
    "merge",
    "publish_desired",
    "record_reported",
    "republish_if_behind",
    "set_box_config",
    "set_default",
]

log = logging.getLogger(__name__)

_DEFAULT_SECTIONS = ("recording", "quality", "reporting")


def merge(defaults: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """`document` over `defaults`, section by section (nested mappings merged, rest replaced)."""
    merged: dict[str, Any] = dict(defaults)
    for key, value in document.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validated(document: dict[str, Any]) -> dict[str, Any]:
    try:
        return BoxConfig.model_validate(document).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
            for e in exc.errors()[:10]
        )
        raise Invalid(f"invalid configuration: {problems}") from exc


def set_default(
    *, session: Session, school_type: SchoolType, document: dict[str, Any]
) -> ConfigDefault:
    """Defaults hold only the shared sections; cameras belong to each box."""
    extra = set(document) - set(_DEFAULT_SECTIONS)
    if extra:
        raise Invalid(f"defaults may only hold {', '.join(_DEFAULT_SECTIONS)}; got {sorted(extra)}")
    _validated(document)
    record = session.get(ConfigDefault, school_type) or ConfigDefault(
        school_type=school_type, document={}
    )
    record.document = document
    record.updated_at = utc_now()
    session.add(record)
    session.flush()
    return record


def get_default(*, session: Session, school_type: SchoolType) -> ConfigDefault:
    record = session.get(ConfigDefault, school_type)
    if record is None:
        return ConfigDefault(school_type=school_type, document={}, updated_at=utc_now())
    return record


def _defaults_for(session: Session, box: Box) -> dict[str, Any]:
    if box.school_id is None:
        return {}
    school = session.get(School, box.school_id)
    if school is None:
        return {}
    record = session.get(ConfigDefault, school.type)
    return dict(record.document) if record else {}


def set_box_config(
    *,
    session: Session,
    scope: Scope,
    box_id: str,
    document: dict[str, Any],
    publisher: Publisher | None,
) -> BoxConfigRecord:
    """Store a new version of the box's desired config and publish it."""
    box = get_box(session=session, scope=scope, box_id=box_id)
    merged = _validated(merge(_defaults_for(session, box), document))
    record = session.get(BoxConfigRecord, box_id) or BoxConfigRecord(
        box_id=box_id, version=0, document={}, merged={}
    )
    record.version += 1
    record.document = document
    record.merged = merged
    record.updated_at = utc_now()
    session.add(record)
    session.flush()
    publish_desired(record, publisher)
    return record


def publish_desired(record: BoxConfigRecord, publisher: Publisher | None) -> bool:
    """Publish the stored desired document (retained); the database stays the truth."""
    if publisher is None:
        log.warning("no broker link; desired config stored only", extra={"box_id": record.box_id})
        return False
    message = ConfigDesired(
        box_id=record.box_id, version=record.version, config=BoxConfig.model_validate(record.merged)
    )
    sent = publisher.publish(message)
    if sent:
        record.published_at = utc_now()
    return sent


def get_box_config(*, session: Session, scope: Scope, box_id: str) -> BoxConfigRecord:
    get_box(session=session, scope=scope, box_id=box_id)
    record = session.get(BoxConfigRecord, box_id)
    if record is None:
        raise NotFound(f"no desired configuration for box {box_id!r}")
    return record


def record_reported(session: Session, reports: Sequence[ConfigReported]) -> None:
    """Keep what each box says it runs and why it refused, newest report per box."""
    newest: dict[str, ConfigReported] = {}
    for report in reports:
        held = newest.get(report.box_id)
        if held is None or report.sent_at >= held.sent_at:
            newest[report.box_id] = report
    for box_id, report in newest.items():
        record = session.get(BoxConfigRecord, box_id) or BoxConfigRecord(
            box_id=box_id, version=0, document={}, merged={}
        )
        record.reported_version = report.applied_version
        record.reported_desired_version = report.desired_version
        record.reported_status = report.status
        record.reported_errors = [e.model_dump(mode="json") for e in report.errors]
        record.reported_at = report.sent_at
        session.add(record)
        box = session.get(Box, box_id)
        if box is not None:
            box.config_version = report.applied_version
            session.add(box)
    session.flush()


def republish_if_behind(
    session: Session, seen: Sequence[tuple[str, int]], publisher: Publisher | None
) -> list[str]:
    """Publish again the desired config of boxes whose birth named an older version."""
    if not seen:
        return []
    versions = dict(seen)
    records = session.exec(
        select(BoxConfigRecord).where(BoxConfigRecord.box_id.in_(list(versions)))  # type: ignore[attr-defined]
    ).all()
    behind = [r for r in records if r.version > versions[r.box_id]]
    for record in behind:
        publish_desired(record, publisher)
        session.add(record)
    return [r.box_id for r in behind]
