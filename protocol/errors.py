"""The one exception the wire layer raises.

ProtocolError
    raised by `decode` (and the topic parser) for anything that is not a valid schoolcam
    message on the topic it arrived on. `reason` is a short stable code used in metrics
    (`bad_topic`, `oversize`, `bad_json`, `wrong_kind`, `box_mismatch`, `slot_mismatch`,
    `unsupported_schema`, `invalid`); the message says what exactly is wrong.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ProtocolError"]


class ProtocolError(ValueError):
    """A payload or topic that does not follow the schoolcam wire protocol."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message
        # Top-level scalar fields of a refused JSON object (request_id, version, ...), so a
        # receiver can still answer what it could not read.
        self.hint: dict[str, Any] = {}
