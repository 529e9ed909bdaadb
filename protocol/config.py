"""The box configuration document, and the desired/reported pair that carries it.

The centre publishes a versioned desired document (retained); the box validates it, applies
it, keeps the last good one on disk and reports what it applied or why it refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, StringConstraints, field_validator, model_validator

from protocol.base import AgentEnvelope, ControllerEnvelope, Slot, Text, WireModel
from protocol.topics import Kind

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "BoxConfig",
    "CameraConfig",
    "ConfigDesired",
    "ConfigIssue",
    "ConfigReported",
    "QualityConfig",
    "RecordingConfig",
    "ReportingConfig",
    "redact_url",
]

CONFIG_SCHEMA_VERSION: Final = 1

SecretRef = Annotated[str, StringConstraints(pattern=r"^(env|file):\S{1,255}$")]


def redact_url(url: str) -> str:
    """The URL with any password replaced by '***', for logs and status lines."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^@/]*@", "//***@", url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class CameraConfig(WireModel):
    """One camera slot as the box should run it."""

    slot: Slot
    name: Text = Field(description="The key area it watches, e.g. 'Main gate, outside'.")
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Main stream URL (rtsp://). Unsupported schemes are reported per camera.",
    )
    sub_url: str | None = Field(
        default=None,
        max_length=2048,
        description=(
            "Sub stream URL (low resolution): picture checks sample it. None: derived from "
            "the firmware profile's templates where the main URL fits them, else none."
        ),
    )
    enabled: bool = Field(default=True, description="A disabled slot is neither read nor recorded.")
    profile: str | None = Field(
        default=None, max_length=64, description="Firmware profile id (firmware_profiles/)."
    )
    username: str | None = Field(default=None, max_length=128, description="Camera user name.")
    password_ref: SecretRef | None = Field(
        default=None,
        description="Where the box finds the camera password: 'env:NAME' or 'file:/path'.",
    )
    onvif_port: int | None = Field(default=None, ge=1, le=65535, description="ONVIF HTTP port.")


class RecordingConfig(WireModel):
    """Continuous recording and how long it is kept."""

    segment_seconds: int = Field(default=60, ge=10, le=600, description="Length of a segment.")
    retention_days: int = Field(default=30, ge=1, le=3650, description="Delete older recordings.")
    min_free_percent: float = Field(
        default=10, ge=1, le=90, description="Keep at least this much of the disk free."
    )
    emergency_free_percent: float = Field(
        default=3, ge=0.5, le=50, description="Below this, purge hard and raise an alarm."
    )

    @model_validator(mode="after")
    def _floors_ordered(self) -> RecordingConfig:
        if self.emergency_free_percent >= self.min_free_percent:
            raise ValueError("emergency_free_percent must be below min_free_percent")
        return self


class QualityConfig(WireModel):
    """Video-quality diagnosis: sampling, debouncing and thresholds."""

    enabled: bool = Field(default=True, description="Run picture checks at all.")
    sample_interval_s: float = Field(
        default=10, ge=1, le=3600, description="Seconds between sampled keyframes per camera."
    )
    consecutive_hits: int = Field(
        default=3, ge=1, le=100, description="Hits in a row before a fault is raised."
    )
    consecutive_clears: int = Field(
        default=2, ge=1, le=100, description="Clean samples in a row before it is cleared."
    )
    signal_loss_luma_max: float = Field(
        default=20, ge=0, le=255, description="Mean luma at or below this, with low spread: loss."
    )
    uniform_std_max: float = Field(
        default=4, ge=0, le=128, description="Luma standard deviation at or below this: uniform."
    )
    frozen_diff_max: float = Field(
        default=0.5, ge=0, le=255, description="Mean abs difference to the previous sample."
    )
    blur_ratio_min: float = Field(
        default=0.25, ge=0, le=1, description="Sharpness below this share of baseline: blur."
    )
    blur_sharpness_floor: float = Field(
        default=30, ge=0, description="Sharpness below this is blur even before a baseline."
    )
    occlusion_texture_max: float = Field(
        default=0.15, ge=0, le=1, description="Share of textured blocks below this: covered."
    )
    brightness_low: float = Field(default=35, ge=0, le=255, description="Too dark below.")
    brightness_high: float = Field(default=225, ge=0, le=255, description="Too bright above.")
    colour_cast_max: float = Field(
        default=40, ge=0, le=255, description="Mean chroma offset from neutral above this: cast."
    )


class ReportingConfig(WireModel):
    """How often the box reports when nothing changes."""

    status_heartbeat_s: float = Field(
        default=60, ge=5, le=3600, description="Re-send every camera status at least this often."
    )
    telemetry_interval_s: float = Field(
        default=30, ge=5, le=3600, description="Seconds between telemetry messages."
    )


class BoxConfig(WireModel):
    """Everything the centre may change on a running box without a restart."""

    cameras: list[CameraConfig] = Field(default_factory=list, max_length=64)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)

    @field_validator("cameras")
    @classmethod
    def _unique_slots(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        slots = [c.slot for c in cameras]
        dupes = sorted({s for s in slots if slots.count(s) > 1})
        if dupes:
            raise ValueError(f"camera slots must be unique; repeated: {dupes}")
        return cameras


class ConfigDesired(ControllerEnvelope):
    """The configuration the centre wants the box to run; retained, versioned."""

    kind: Literal[Kind.CONFIG_DESIRED] = Kind.CONFIG_DESIRED
    version: int = Field(ge=1, lt=2**63, description="Grows with every change for this box.")
    config_schema: Literal[1] = Field(
        default=CONFIG_SCHEMA_VERSION, description="Version of the BoxConfig document."
    )
    config: BoxConfig


class ConfigIssue(WireModel):
    """One reason a desired configuration was refused."""

    path: str = Field(max_length=256, description="Dotted path of the field, '' for the whole.")
    message: Text


class ConfigReported(AgentEnvelope):
    """What the box runs, and the fate of the last desired document it saw."""

    kind: Literal[Kind.CONFIG_REPORTED] = Kind.CONFIG_REPORTED
    applied_version: int = Field(ge=0, description="Version now running; 0 = local file only.")
    desired_version: int | None = Field(default=None, ge=0, description="Last version seen.")
    status: Literal["applied", "rejected"]
    errors: list[ConfigIssue] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _errors_match_status(self) -> ConfigReported:
        if self.status == "rejected" and not self.errors:
            raise ValueError("a rejection must say why (errors is empty)")
        if self.status == "applied" and self.errors:
            raise ValueError("an applied config carries no errors")
        return self
