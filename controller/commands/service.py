"""Send a command to a box and wait for its reply, or fail clearly and fast.

Offline box: 503 at once, nothing published. No broker link: 503. No reply in time: 504. An
error reply maps its `CommandErrorCode` to an HTTP status (`ERROR_STATUS`). A snapshot's JPEG
is stored in media storage as the slot's newest snapshot.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from controller.auth.scope import Scope
from controller.commands.models import CommandIn, CommandOutcome
from controller.commands.replies import BoxReplyRoutes, ReplyWaiters
from controller.core.errors import DomainError, Invalid
from controller.core.settings import Settings
from controller.core.types import utc_now
from controller.devices.service import get_box
from controller.media import service as media
from controller.media.storage import MediaStorage, StorageFull
from controller.mqtt import Publisher
from protocol import Command, CommandErrorCode, CommandReply, CommandRequest, Kind, topic

__all__ = ["ERROR_STATUS", "CommandFailed", "build_command", "run_command"]

log = logging.getLogger(__name__)

ERROR_STATUS: dict[CommandErrorCode, int] = {
    CommandErrorCode.UNKNOWN_SLOT: 404,
    CommandErrorCode.CAMERA_OFFLINE: 409,
    CommandErrorCode.BAD_ARGUMENTS: 422,
    CommandErrorCode.UNSUPPORTED: 501,
    CommandErrorCode.UNKNOWN_COMMAND: 501,
    CommandErrorCode.DEADLINE_EXPIRED: 504,
    CommandErrorCode.FAILED: 502,
    CommandErrorCode.BUSY: 429,
}

_COMMAND = TypeAdapter[Any](Command)
# How much longer than the box's deadline we wait, for the reply's trip back.
REPLY_GRACE_S = 0.5


class CommandFailed(DomainError):
    """A command that got no usable answer; the status says why."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code


def build_command(slot: int, body: CommandIn) -> Any:
    """The protocol command for this slot, validated exactly as a box would."""
    try:
        return _COMMAND.validate_python({**body.arguments(), "name": body.name, "slot": slot})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or '(command)'}: {e['msg']}"
            for e in exc.errors()[:10]
        )
        raise Invalid(f"invalid {body.name} command: {problems}") from exc


def _is_connected(publisher: Publisher) -> bool:
    connected = getattr(publisher, "connected", None)
    return bool(connected.is_set()) if connected is not None else True


def run_command(
    *,
    session: Session,
    scope: Scope,
    box_id: str,
    slot: int,
    body: CommandIn,
    publisher: Publisher | None,
    waiters: ReplyWaiters | None,
    routes: BoxReplyRoutes | None,
    storage: MediaStorage,
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
) -> CommandOutcome:
    """Publish the command, wait for its reply, and turn the reply into an outcome."""
    box = get_box(session=session, scope=scope, box_id=box_id)
    command = build_command(slot, body)
    if not box.online:
        since = f" since {box.state_changed_at.isoformat()}" if box.state_changed_at else ""
        reason = f" ({box.offline_reason})" if box.offline_reason else ""
        raise CommandFailed(
            503, f"box {box_id} is offline{reason}{since}; the {body.name} command was not sent"
        )
    if publisher is None or waiters is None or not _is_connected(publisher):
        raise CommandFailed(503, "the controller has no broker link; try again shortly")
    session.commit()  # end the read transaction: nothing is held while we wait
    timeout_s = body.timeout_s or settings.command_timeout_s
    request_id = f"c-{uuid.uuid4().hex[:24]}"
    request = CommandRequest(
        box_id=box_id,
        request_id=request_id,
        reply_to=topic(Kind.COMMAND_REPLY, box_id),
        deadline=clock() + timedelta(seconds=timeout_s),
        command=command,
    )
    started = time.monotonic()
    waiter = waiters.expect(request_id, box_id)
    if routes is not None:
        routes.acquire(box_id)
    try:
        if not publisher.publish(request):
            raise CommandFailed(503, "the broker refused the command; try again shortly")
        answered = waiter.done.wait(timeout_s + REPLY_GRACE_S)
    finally:
        waiters.forget(request_id)
        if routes is not None:
            routes.release(box_id)
    elapsed_ms = (time.monotonic() - started) * 1000
    if not answered or waiter.reply is None:
        log.warning(
            "command timed out",
            extra={"box_id": box_id, "slot": slot, "command": body.name, "request_id": request_id},
        )
        raise CommandFailed(
            504, f"box {box_id} did not answer {body.name} within {timeout_s:g} s ({request_id})"
        )
    return _outcome(
        waiter.reply,
        session=session,
        box_school=box.school_id,
        slot=slot,
        name=body.name,
        storage=storage,
        settings=settings,
        elapsed_ms=elapsed_ms,
        now=clock(),
    )


def _outcome(
    reply: CommandReply,
    *,
    session: Session,
    box_school: int | None,
    slot: int,
    name: str,
    storage: MediaStorage,
    settings: Settings,
    elapsed_ms: float,
    now: datetime,
) -> CommandOutcome:
    if not reply.ok or reply.result is None:
        assert reply.error is not None
        status = ERROR_STATUS.get(reply.error.code, 502)
        raise CommandFailed(
            status, f"box {reply.box_id}: {reply.error.code.value}: {reply.error.message}"
        )
    result = reply.result
    snapshot = None
    if result.type == "snapshot":
        try:
            stored = media.store_snapshot(
                session=session,
                storage=storage,
                box_id=reply.box_id,
                school_id=box_school,
                result=result,
                request_id=reply.request_id,
                keep=settings.snapshots_per_slot,
                now=now,
            )
        except media.BadSnapshot as exc:
            raise CommandFailed(502, f"box {reply.box_id}: {exc}") from exc
        except StorageFull as exc:
            raise CommandFailed(507, "media storage is full; snapshot not kept") from exc
        snapshot = media.snapshot_public(
            stored, secret_key=settings.secret_key, now=now, ttl_s=settings.media_url_ttl_s
        )
    return CommandOutcome(
        request_id=reply.request_id,
        box_id=reply.box_id,
        slot=slot,
        name=name,
        result=result.model_dump(mode="json", exclude={"jpeg_base64"}),
        snapshot=snapshot,
        elapsed_ms=round(elapsed_ms, 1),
    )
