"""The envelope every message carries, and the field types shared by all messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from protocol.topics import BOX_ID_PATTERN, MAX_SLOT

__all__ = [
    "SCHEMA_VERSION",
    "AgentEnvelope",
    "BoxId",
    "ControllerEnvelope",
    "Envelope",
    "Slot",
    "Text",
    "UtcDatetime",
    "WireModel",
    "utc_now",
]

SCHEMA_VERSION: Final = 1


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timestamp with an explicit offset, normalised to UTC; naive times are refused."""

BoxId = Annotated[str, StringConstraints(pattern=BOX_ID_PATTERN.pattern)]
Slot = Annotated[int, Field(ge=1, le=MAX_SLOT, strict=True)]
Text = Annotated[str, StringConstraints(max_length=500)]
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def utc_now() -> datetime:
    """The current time in UTC; the one clock the models default to."""
    return datetime.now(UTC)


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are an error, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Envelope(WireModel):
    """Fields every message has, whichever side sends it."""

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION,
        alias="schema",
        description="Wire schema version; a receiver refuses versions it does not know.",
    )
    kind: str = Field(description="Message kind; fixed per model and per topic.")
    box_id: BoxId = Field(description="The box the message is from or addressed to.")
    sent_at: UtcDatetime = Field(default_factory=utc_now, description="When it was sent (UTC).")


class AgentEnvelope(Envelope):
    """Envelope of everything a box publishes; (box_id, boot_id, seq) identifies a message."""

    boot_id: Token = Field(description="New on every agent start.")
    seq: int = Field(ge=0, lt=2**63, description="Monotonic per boot; the dedupe key with boot_id.")
    historical: bool = Field(
        default=False, description="True when replayed from the box's outbox after an outage."
    )


class ControllerEnvelope(Envelope):
    """Envelope of what the centre sends to a box."""
