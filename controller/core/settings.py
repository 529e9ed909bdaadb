"""The controller's settings: environment (`SCHOOLCAM_` prefix) over an optional file.

A deployment must set its own secret: the default one is refused unless
`SCHOOLCAM_ENV=development`, so a forgotten secret cannot reach production.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["DEFAULT_SECRET", "Settings", "load_settings"]

DEFAULT_SECRET = "change-me"
SETTINGS_FILE_ENV = "SCHOOLCAM_SETTINGS_FILE"


class _FileSource(PydanticBaseSettingsSource):
    """Values from the YAML/JSON file named by SCHOOLCAM_SETTINGS_FILE, below the environment."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        name = os.environ.get(SETTINGS_FILE_ENV)
        self._data: dict[str, Any] = {}
        if name:
            text = Path(name).read_text(encoding="utf-8")
            loaded = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            if loaded is not None and not isinstance(loaded, dict):
                raise ValueError(f"{name}: settings file must hold a mapping")
            self._data = loaded or {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class Settings(BaseSettings):
    """Everything the controller reads at start; see docs/controller.md for each field."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLCAM_", extra="forbid")

    env: Literal["production", "development"] = Field(
        default="production", description="development allows the default secret."
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET, min_length=8, description="Keys the hashes of API tokens."
    )
    database_url: str = Field(
        default="sqlite:///./schoolcam.db", description="SQLAlchemy URL (SQLite or PostgreSQL)."
    )
    broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt:// or mqtts://")
    broker_username: str | None = Field(default=None, description="MQTT user name.")
    broker_password: str | None = Field(default=None, description="MQTT password (never logged).")
    broker_ca_file: Path | None = Field(default=None, description="CA bundle for mqtts://.")
    broker_client_id: str = Field(default="", description="MQTT client id; empty = random.")
    broker_protocol: Literal["5", "3.1.1"] = Field(
        default="5", description="MQTT version; 3.1.1 for brokers without MQTT 5 (amqtt)."
    )
    shared_group: str | None = Field(
        default="controller",
        description="MQTT 5 shared-subscription group so replicas split ingest; None = plain.",
    )
    ingest_batch_size: int = Field(
        default=2000, ge=1, le=10_000, description="Most messages written in one transaction."
    )
    ingest_batch_interval_s: float = Field(
        default=0.2, gt=0, le=10, description="Longest a message waits before it is written."
    )
    ingest_queue_max: int = Field(
        default=200_000, ge=100, description="Messages held for the writer before back-pressure."
    )
    ingest_writer_process: bool = Field(
        default=False,
        description="Decode and write in a separate process; the MQTT receiver only receives.",
    )
    ingest_writers: int = Field(
        default=2,
        ge=1,
        le=16,
        description=(
            "Writer processes when ingest_writer_process is on; each writes its share of the "
            "boxes (on SQLite one at a time, decoding side by side)."
        ),
    )
    sweep_interval_s: float = Field(default=5.0, gt=0, description="Seconds between sweeps.")
    camera_offline_alarm_s: float = Field(
        default=300, ge=0, description="Raise camera_offline_long after this many seconds."
    )
    box_silent_s: float = Field(
        default=180, gt=0, description="A box heard from for this long is taken as offline."
    )
    recording_gap_alarm_s: float = Field(
        default=60, ge=0, description="Recording gaps longer than this raise an alarm."
    )
    summary_cache_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Seconds a fleet summary is served from memory per caller scope; 0 = never.",
    )
    token_ttl_s: int = Field(default=12 * 3600, gt=0, description="Lifetime of a login token.")
    media_dir: Path = Field(
        default=Path("./media"), description="Where clips and snapshots are stored."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://",
        description="The controller's URL as boxes reach it (clip upload URLs start here).",
    )
    command_timeout_s: float = Field(
        default=10, gt=0, le=120, description="Default wait for a box's command reply."
    )
    snapshots_per_slot: int = Field(
        default=20, ge=1, le=10_000, description="Snapshots kept per camera slot."
    )
    clip_job_timeout_s: float = Field(
        default=3600, gt=0, description="A clip export not finished by then is timed out."
    )
    clip_max_bytes: int = Field(
        default=4 * 1024**3, gt=0, description="Largest clip upload accepted."
    )
    media_url_ttl_s: int = Field(
        default=3600, gt=0, description="Lifetime of a signed media download URL."
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.secret_key == DEFAULT_SECRET and self.env != "development":
            raise ValueError(
                "SCHOOLCAM_SECRET_KEY is the default; set a secret "
                "(or SCHOOLCAM_ENV=development for a local try-out)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls), file_secret_settings)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and file, with explicit overrides on top."""
    return Settings(**overrides)
