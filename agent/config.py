"""The agent's one configuration file (YAML), validated by pydantic.

The file holds what only the box knows (its identity, storage, broker, secrets) and the
initial `BoxConfig` part (cameras, recording, quality, reporting), which the centre may later
replace at run time through the desired-config document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from protocol import (
    BoxConfig,
    CameraConfig,
    QualityConfig,
    RecordingConfig,
    ReportingConfig,
)
from protocol.base import BoxId, Slot, Text

__all__ = [
    "AgentConfig",
    "BrokerSettings",
    "CameraSettings",
    "ConfigFileError",
    "OutboxSettings",
    "StorageSettings",
    "load_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageSettings(_Section):
    """Where recordings, the index, the outbox and the last good config live."""

    path: Path = Field(description="Root directory for recordings and agent state.")
    retention_days: int = Field(default=30, ge=1, le=3650, description="Delete older footage.")
    min_free_percent: float = Field(
        default=10, ge=1, le=90, description="Never let free disk space fall below this."
    )
    emergency_free_percent: float = Field(
        default=3, ge=0.5, le=50, description="Below this, purge hard and raise an alarm."
    )
    segment_seconds: int = Field(default=60, ge=10, le=600, description="Length of one segment.")


class BrokerSettings(_Section):
    """How the box reaches the centre's MQTT broker."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/\s]+$",
        description="mqtt://host:port, or mqtts://host:port for TLS.",
    )
    username: str | None = Field(default=None, description="Defaults to the box id.")
    password_file: Path | None = Field(default=None, description="File holding the password.")
    password_env: str | None = Field(default=None, description="Variable holding the password.")
    ca_file: Path | None = Field(default=None, description="CA bundle to verify the broker.")
    cert_file: Path | None = Field(default=None, description="Client certificate (CN = box id).")
    key_file: Path | None = Field(default=None, description="Client key; never leaves the box.")
    keepalive_s: int = Field(
        default=30,
        ge=5,
        le=600,
        description=(
            "Dead-box budget: the broker publishes the box's will within 1.5x this. The link "
            "announces a slightly shorter keepalive to cover the broker's check interval."
        ),
    )
    reconnect_max_s: float = Field(default=30, ge=1, le=600, description="Backoff cap.")
    protocol: Literal["5", "3.1.1"] = Field(default="5", description="MQTT protocol version.")

    @model_validator(mode="after")
    def _key_with_cert(self) -> BrokerSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class OutboxSettings(_Section):
    """The on-disk queue of unsent events."""

    max_events: int = Field(default=100_000, ge=100, description="Events kept at most.")
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024, description="Bytes kept.")
    drain_per_s: float = Field(default=200, gt=0, description="Replay rate after an outage.")
    max_inflight: int = Field(
        default=1000, ge=1, le=10_000, description="Unacknowledged QoS 1 messages at most."
    )
    drop_policy: Literal["drop_oldest", "drop_newest"] = Field(
        default="drop_oldest", description="What goes when the outbox is full (always counted)."
    )


class CameraSettings(_Section):
    """One camera slot as written in the file."""

    slot: Slot
    name: Text
    url: str = Field(min_length=1, max_length=2048, description="Main stream (rtsp://...).")
    sub_url: str | None = Field(
        default=None,
        max_length=2048,
        description=(
            "Sub stream (low resolution) the picture checks sample; without it, derived from "
            "the firmware profile's URL templates where the main URL matches them."
        ),
    )
    enabled: bool = True
    profile: str | None = Field(default=None, max_length=64, description="Firmware profile id.")
    username: str | None = Field(default=None, max_length=128)
    password_file: Path | None = Field(default=None, description="File holding the password.")
    password_env: str | None = Field(default=None, description="Variable holding the password.")
    onvif_port: int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def _one_password_source(self) -> CameraSettings:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give password_file or password_env, not both")
        return self

    def to_camera_config(self) -> CameraConfig:
        """The wire form; a password source becomes a reference the box resolves itself."""
        ref = None
        if self.password_file is not None:
            ref = f"file:{self.password_file}"
        elif self.password_env is not None:
            ref = f"env:{self.password_env}"
        return CameraConfig(
            slot=self.slot,
            name=self.name,
            url=self.url,
            sub_url=self.sub_url,
            enabled=self.enabled,
            profile=self.profile,
            username=self.username,
            password_ref=ref,
            onvif_port=self.onvif_port,
        )


class AgentConfig(_Section):
    """The whole agent.yaml."""

    box_id: BoxId = Field(description="This box's id: MQTT client id, username and cert CN.")
    school: str = Field(min_length=1, max_length=64, description="School code.")
    storage: StorageSettings
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    cameras: list[CameraSettings] = Field(default_factory=list, max_length=64)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("cameras")
    @classmethod
    def _unique_slots(cls, cameras: list[CameraSettings]) -> list[CameraSettings]:
        slots = [c.slot for c in cameras]
        dupes = sorted({s for s in slots if slots.count(s) > 1})
        if dupes:
            raise ValueError(f"camera slots must be unique; repeated: {dupes}")
        return cameras

    @property
    def state_dir(self) -> Path:
        """Agent state (outbox, session counter, last good config) beside the recordings."""
        return self.storage.path / "state"

    def box_config(self) -> BoxConfig:
        """The run-time part of this file, as the centre would send it."""
        return BoxConfig(
            cameras=[camera.to_camera_config() for camera in self.cameras],
            recording=RecordingConfig(
                segment_seconds=self.storage.segment_seconds,
                retention_days=self.storage.retention_days,
                min_free_percent=self.storage.min_free_percent,
                emergency_free_percent=self.storage.emergency_free_percent,
            ),
            quality=self.quality,
            reporting=self.reporting,
        )


class ConfigFileError(Exception):
    """The file cannot be used; `problems` lists (dotted path, message) for each fault."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {where or '(file)'}: {message}" for where, message in problems)
        super().__init__(f"{path}: {len(problems)} problem(s)\n{lines}")


def load_config(path: Path) -> AgentConfig:
    """Read and validate agent.yaml; ConfigFileError says every problem with its path."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigFileError(path, [("", f"cannot read: {exc.strerror or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, [("", f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise ConfigFileError(path, [("", "the top level must be a mapping")])
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
        raise ConfigFileError(path, problems) from exc
