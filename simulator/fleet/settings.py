"""What a simulated fleet is asked to do, and the counters it keeps while doing it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "BrokerAddress",
    "FleetSettings",
    "FleetStats",
    "load_passwords",
    "parse_broker_url",
    "ssl_context_for",
]


class FleetSettings(BaseModel):
    """One fleet run. Intervals are seconds; the fault rate is faults per box per hour."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schools: int = Field(ge=1, le=100_000, description="Simulated schools, one box each.")
    broker_url: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt:// or mqtts://.")
    prefix: str = Field(
        default="sim", pattern=r"^[a-z0-9]{1,20}$", description="Box ids are {prefix}-0001-a."
    )
    first_index: int = Field(default=1, ge=0, description="Number of the first simulated school.")
    fault_rate: float = Field(default=0.5, ge=0, le=36_000, description="Faults per box per hour.")
    fault_duration_s: float = Field(
        default=120, gt=0, le=86_400, description="Mean time a fault (or an uplink loss) lasts."
    )
    telemetry_interval_s: float = Field(default=30, gt=0, description="Telemetry period.")
    heartbeat_s: float = Field(default=60, gt=0, description="Re-send every camera status.")
    rate: float = Field(
        default=0, ge=0, description="Extra status/telemetry messages per second, fleet-wide."
    )
    ramp_per_s: float = Field(default=500, gt=0, description="New connections per second.")
    keepalive_s: int = Field(default=60, ge=5, le=3600, description="MQTT keepalive.")
    seed: int = Field(default=1, description="Same seed, same fleet (names, cameras, faults).")
    passwords: dict[str, str] = Field(
        default_factory=dict, description="Per-box passwords; '*' is the password of every box."
    )
    ca_file: Path | None = Field(default=None, description="CA bundle for mqtts://.")

    @field_validator("broker_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    def box_id(self, index: int) -> str:
        return f"{self.prefix}-{index:04d}-a"

    def school(self, index: int) -> str:
        return f"{self.prefix}-{index:04d}"

    def password_for(self, box_id: str) -> str | None:
        return self.passwords.get(box_id, self.passwords.get("*"))


@dataclass(frozen=True)
class BrokerAddress:
    """Where the boxes connect."""

    host: str
    port: int
    tls: bool


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://host[:1883]` or `mqtts://host[:8883]`; ValueError with the reason otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r} names no host")
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


def ssl_context_for(settings: FleetSettings) -> ssl.SSLContext | None:
    """A client TLS context when the broker URL asks for TLS."""
    if not parse_broker_url(settings.broker_url).tls:
        return None
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)


def load_passwords(path: Path) -> dict[str, str]:
    """Read `box_id:password` lines; a file of one bare line is the password of every box."""
    text = path.read_text().strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    if len(lines) == 1 and ":" not in lines[0]:
        return {"*": lines[0]}
    passwords: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        box_id, sep, password = line.partition(":")
        if not sep or not box_id or not password:
            raise ValueError(f"{path}:{number}: expected 'box_id:password'")
        passwords[box_id] = password
    return passwords


@dataclass
class FleetStats:
    """Counters the fleet keeps; read by the summary line and the benchmark."""

    connected: int = 0
    booted: int = 0  # boxes that have connected at least once
    connects: int = 0
    connect_failures: int = 0
    published: int = 0
    received: int = 0
    events: int = 0
    uplink_losses: int = 0
    replies: int = 0
    jobs: int = 0
    protocol_errors: int = 0
    dropped: int = 0
    errors: int = 0
    by_event: dict[str, int] = field(default_factory=dict)

    def count_event(self, event_type: str) -> None:
        self.events += 1
        self.by_event[event_type] = self.by_event.get(event_type, 0) + 1
