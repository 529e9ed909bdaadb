"""Interactive commands: request -> deadline check -> carry out -> exactly one reply.

Every request gets an answer on the reply topic: a result, or an error with a stable code
(unknown command, bad arguments, expired deadline, unknown slot, camera offline, unsupported,
failed). A request too broken to read still gets an error reply when its request id can be
recovered from the refused payload.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import cv2
import numpy as np

from agent.credentials import CredentialError, resolve_secret
from agent.interfaces import CommandFailed, Pipeline, Snapshot
from agent.link.onvif import OnvifCamera, OnvifError
from agent.link.publisher import Publisher
from protocol import (
    AckResult,
    CameraConfig,
    CameraRebootCommand,
    CommandError,
    CommandErrorCode,
    CommandReply,
    CommandRequest,
    ProbeCommand,
    ProtocolError,
    PtzMoveCommand,
    PtzPresetCommand,
    PtzStopCommand,
    RecordingSearchCommand,
    SnapshotCommand,
    SnapshotResult,
    encode,
)
from protocol.commands import COMMAND_NAMES, MAX_SNAPSHOT_BASE64, CommandResult

__all__ = ["CommandRunner", "fit_snapshot"]

log = logging.getLogger(__name__)

_REQUEST_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


def fit_snapshot(snapshot: Snapshot, limit: int = MAX_SNAPSHOT_BASE64) -> tuple[bytes, int, int]:
    """The JPEG, re-encoded smaller until its base64 fits `limit`; (jpeg, width, height)."""
    jpeg, width, height = snapshot.jpeg, snapshot.width, snapshot.height
    if len(base64.b64encode(jpeg)) <= limit:
        return jpeg, width, height
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise CommandFailed(CommandErrorCode.FAILED, "snapshot is not a decodable JPEG")
    quality = 80
    while True:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise CommandFailed(CommandErrorCode.FAILED, "cannot re-encode the snapshot")
        data = encoded.tobytes()
        if len(base64.b64encode(data)) <= limit:
            return data, int(image.shape[1]), int(image.shape[0])
        if quality > 50:
            quality -= 15
        else:
            image = cv2.resize(image, (image.shape[1] * 3 // 4, image.shape[0] * 3 // 4))


class CommandRunner:
    """Carries out one command request against the pipeline or the camera's ONVIF service."""

    def __init__(
        self,
        publisher: Publisher,
        *,
        cameras: Callable[[], list[CameraConfig]],
    ) -> None:
        self.publisher = publisher
        self._cameras = cameras
        self._pipeline: Pipeline | None = None
        self.handled = 0
        self.failed: dict[str, int] = {}
        self.unanswerable = 0

    def bind(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    # -- entry points --------------------------------------------------------------------

    def refuse(self, error: ProtocolError) -> None:
        """Answer a request that did not decode, if its request id can be read."""
        import re

        request_id = error.hint.get("request_id")
        if not isinstance(request_id, str) or not re.match(_REQUEST_ID, request_id):
            self.unanswerable += 1
            log.warning("unanswerable command refused (%s): %s", error.reason, error.detail)
            return
        code = CommandErrorCode.BAD_ARGUMENTS
        name = error.hint.get("command_name")
        if isinstance(name, str) and name not in COMMAND_NAMES:
            code = CommandErrorCode.UNKNOWN_COMMAND
        self._error(request_id, code, f"{error.reason}: {error.detail}")

    def handle(self, request: CommandRequest) -> None:
        """Run one decoded request and publish its reply."""
        now = self.publisher.clock.now()
        name = request.command.name
        if now > request.deadline:
            self._error(
                request.request_id,
                CommandErrorCode.DEADLINE_EXPIRED,
                f"deadline {request.deadline.isoformat()} passed before {name} started",
            )
            return
        try:
            result = self._run(request, (request.deadline - now).total_seconds())
        except CommandFailed as exc:
            self._error(request.request_id, exc.code, exc.message)
            return
        except Exception as exc:
            log.exception("command %s (%s) failed", name, request.request_id)
            self._error(request.request_id, CommandErrorCode.FAILED, f"{type(exc).__name__}: {exc}")
            return
        self.handled += 1
        reply = CommandReply(
            **self.publisher.envelope(), request_id=request.request_id, ok=True, result=result
        )
        self._send(reply)

    # -- dispatch ------------------------------------------------------------------------

    def _run(self, request: CommandRequest, budget_s: float) -> CommandResult:
        pipeline = self._pipeline
        if pipeline is None:
            raise CommandFailed(CommandErrorCode.BUSY, "the agent is still starting")
        command = request.command
        camera = self._camera(command.slot)
        if isinstance(command, SnapshotCommand):
            shot = pipeline.snapshot(command.slot, sub_stream=command.sub_stream, timeout=budget_s)
            jpeg, width, height = fit_snapshot(shot)
            return SnapshotResult(
                slot=command.slot,
                taken_at=shot.taken_at,
                width=width,
                height=height,
                jpeg_base64=base64.b64encode(jpeg).decode(),
            )
        if isinstance(command, ProbeCommand):
            return pipeline.probe(command.slot, timeout=budget_s)
        if isinstance(command, RecordingSearchCommand):
            return pipeline.search(command.slot, command.start, command.end)
        onvif = self._onvif(camera, budget_s)
        try:
            if isinstance(command, PtzMoveCommand):
                onvif.continuous_move(command.pan, command.tilt, command.zoom, command.duration_s)
            elif isinstance(command, PtzStopCommand):
                onvif.stop()
            elif isinstance(command, PtzPresetCommand):
                onvif.goto_preset(command.preset)
            elif isinstance(command, CameraRebootCommand):
                onvif.reboot()
            else:
                raise CommandFailed(CommandErrorCode.UNKNOWN_COMMAND, f"no handler for {command}")
        except OnvifError as exc:
            raise CommandFailed(CommandErrorCode.FAILED, str(exc)) from exc
        return AckResult()

    def _camera(self, slot: int) -> CameraConfig:
        for camera in self._cameras():
            if camera.slot == slot:
                return camera
        raise CommandFailed(CommandErrorCode.UNKNOWN_SLOT, f"no camera in slot {slot}")

    def _onvif(self, camera: CameraConfig, budget_s: float) -> OnvifCamera:
        password = None
        if camera.password_ref:
            try:
                password = resolve_secret(camera.password_ref)
            except CredentialError as exc:
                raise CommandFailed(CommandErrorCode.FAILED, str(exc)) from exc
        try:
            onvif = OnvifCamera.for_camera(camera, password)
        except OnvifError as exc:
            raise CommandFailed(CommandErrorCode.UNSUPPORTED, str(exc)) from exc
        onvif.timeout = max(0.5, min(10.0, budget_s))
        return onvif

    # -- replies -------------------------------------------------------------------------

    def _error(self, request_id: str, code: CommandErrorCode, message: str) -> None:
        self.failed[code.value] = self.failed.get(code.value, 0) + 1
        log.info("command %s answered with error %s: %s", request_id, code.value, message)
        reply = CommandReply(
            **self.publisher.envelope(),
            request_id=request_id,
            ok=False,
            error=CommandError(code=code, message=message[:500]),
        )
        self._send(reply)

    def _send(self, reply: CommandReply) -> None:
        try:
            encode(reply)
        except ProtocolError as exc:  # e.g. a search result over 1 MiB
            reply = CommandReply(
                **self.publisher.envelope(),
                request_id=reply.request_id,
                ok=False,
                error=CommandError(code=CommandErrorCode.FAILED, message=str(exc)[:500]),
            )
        if not self.publisher.live(reply):
            log.warning("reply to %s not sent: link down", reply.request_id)
