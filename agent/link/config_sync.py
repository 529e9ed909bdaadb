"""Configuration push: desired document -> validate -> apply -> keep the last good -> report.

The centre publishes a versioned desired document (retained). The box checks what only the
box can check (secret references resolve), hands it to the pipeline, and only when that
succeeds writes it to disk as the last good configuration and reports it applied. A refused
document never touches the running configuration; the rejection and its reasons are reported
on config/reported and as an event. On start the last good document, if any, wins over the
file's initial configuration.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from agent.credentials import CredentialError, resolve_secret
from agent.interfaces import ConfigRejected, Pipeline
from agent.link.publisher import Publisher
from protocol import (
    BoxConfig,
    ConfigDesired,
    ConfigEvent,
    ConfigIssue,
    ConfigReported,
    Event,
    ProtocolError,
)

__all__ = ["AppliedConfig", "ConfigSync", "load_last_good"]

log = logging.getLogger(__name__)

LAST_GOOD_FILE = "config-applied.json"


@dataclass(frozen=True)
class AppliedConfig:
    """The configuration the box runs and the desired version it came from (0 = file)."""

    version: int
    config: BoxConfig


def load_last_good(state_dir: Path) -> AppliedConfig | None:
    """The last configuration applied from the centre, or None (missing or unreadable)."""
    path = state_dir / LAST_GOOD_FILE
    try:
        raw = json.loads(path.read_text())
        return AppliedConfig(int(raw["version"]), BoxConfig.model_validate(raw["config"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        log.error("last good config %s is unreadable, ignoring it: %s", path, exc)
        return None


def _save_last_good(state_dir: Path, applied: AppliedConfig) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LAST_GOOD_FILE
    tmp = path.with_suffix(".tmp")
    document = {"version": applied.version, "config": applied.config.model_dump(mode="json")}
    with tmp.open("w") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def check_secrets(config: BoxConfig) -> list[ConfigIssue]:
    """Every camera password reference must resolve on this box."""
    issues = []
    for i, camera in enumerate(config.cameras):
        if camera.password_ref is None:
            continue
        try:
            resolve_secret(camera.password_ref)
        except CredentialError as exc:
            issues.append(ConfigIssue(path=f"cameras.{i}.password_ref", message=str(exc)))
    return issues


class ConfigSync:
    """Applies desired configurations one at a time and reports each outcome."""

    def __init__(
        self,
        state_dir: Path,
        publisher: Publisher,
        initial: BoxConfig,
        *,
        on_applied: Callable[[AppliedConfig], None] = lambda _applied: None,
    ) -> None:
        self.state_dir = state_dir
        self.publisher = publisher
        self._on_applied = on_applied
        self._lock = threading.Lock()
        stored = load_last_good(state_dir)
        self.applied = stored if stored is not None else AppliedConfig(0, initial)
        self.from_disk = stored is not None
        self.last_desired: int | None = None
        self.last_status: str = "applied"
        self.last_errors: list[ConfigIssue] = []
        self._pipeline: Pipeline | None = None
        self.rejected = 0

    def start(self, pipeline: Pipeline) -> None:
        """Bind the pipeline; if a last good config was on disk, run it now."""
        self._pipeline = pipeline
        if self.from_disk:
            try:
                pipeline.apply(self.applied.config)
                log.info("running the last good config, version %d", self.applied.version)
            except Exception as exc:
                log.error(
                    "last good config version %d failed to apply: %s", self.applied.version, exc
                )

    def report(self) -> None:
        """(Re)publish config/reported: after connect, and after every desired document."""
        message = ConfigReported(
            **self.publisher.envelope(),
            applied_version=self.applied.version,
            desired_version=self.last_desired,
            status="rejected" if self.last_status == "rejected" else "applied",
            errors=self.last_errors[:100] if self.last_status == "rejected" else [],
        )
        self.publisher.durable(message)

    def handle(self, desired: ConfigDesired) -> None:
        """Apply one decoded desired document (serialised; called off the network thread)."""
        with self._lock:
            self._handle(desired)

    def refuse_undecodable(self, error: ProtocolError) -> None:
        """A desired document that did not decode: report its version (if readable) rejected."""
        version = error.hint.get("version")
        with self._lock:
            self._reject(
                version if isinstance(version, int) and version >= 0 else None,
                [ConfigIssue(path="", message=f"{error.reason}: {error.detail}"[:500])],
            )

    def _handle(self, desired: ConfigDesired) -> None:
        if desired.version == self.applied.version and self.last_status == "applied":
            self.last_desired = desired.version
            self.report()  # a redelivered retained document: already running
            return
        if desired.version == self.last_desired and self.last_status == "rejected":
            self.report()  # the same refused document again: same answer, no new event
            return
        if desired.version < self.applied.version:
            self._reject(
                desired.version,
                [
                    ConfigIssue(
                        path="version",
                        message=f"older than the running version {self.applied.version}",
                    )
                ],
            )
            return
        issues = check_secrets(desired.config)
        if issues:
            self._reject(desired.version, issues)
            return
        if self._pipeline is None:
            self._reject(desired.version, [ConfigIssue(path="", message="agent not started")])
            return
        try:
            self._pipeline.apply(desired.config)
        except ConfigRejected as exc:
            self._reject(desired.version, exc.issues or [ConfigIssue(path="", message=str(exc))])
            return
        except Exception as exc:
            log.exception("applying config version %d failed", desired.version)
            message = f"apply failed: {type(exc).__name__}: {exc}"[:500]
            self._reject(desired.version, [ConfigIssue(path="", message=message)])
            return
        applied = AppliedConfig(desired.version, desired.config)
        try:
            _save_last_good(self.state_dir, applied)
        except OSError as exc:  # running it anyway; it is re-sent (retained) after a restart
            log.error("config version %d applied but not saved: %s", desired.version, exc)
        self.applied = applied
        self.last_desired = desired.version
        self.last_status = "applied"
        self.last_errors = []
        log.info("config version %d applied", desired.version)
        self._on_applied(applied)
        self.report()
        self.publisher.durable(
            Event(
                **self.publisher.envelope(),
                occurred_at=self.publisher.clock.now(),
                body=ConfigEvent(type="config_applied", version=desired.version),
            )
        )

    def _reject(self, version: int | None, issues: list[ConfigIssue]) -> None:
        self.rejected += 1
        self.last_desired = version
        self.last_status = "rejected"
        self.last_errors = issues
        log.warning(
            "config version %s rejected: %s",
            version,
            "; ".join(f"{i.path or '(whole)'}: {i.message}" for i in issues),
        )
        self.report()
        self.publisher.durable(
            Event(
                **self.publisher.envelope(),
                occurred_at=self.publisher.clock.now(),
                body=ConfigEvent(
                    type="config_rejected",
                    version=version or 0,
                    errors=[f"{i.path}: {i.message}"[:500] for i in issues[:100]],
                ),
            )
        )
