"""Comparing camera firmware versions as vendors write them (V5.7.3, 2.800.0000000.8.R)."""

from __future__ import annotations

import re

__all__ = ["firmware_below", "version_key"]


def version_key(version: str) -> tuple[int, ...]:
    """The numbers in a version string, in order; letters and build tags are ignored."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def firmware_below(firmware: str, minimum: str) -> bool:
    """True when `firmware` is older than `minimum` (missing trailing parts count as 0)."""
    have, want = version_key(firmware), version_key(minimum)
    width = max(len(have), len(want))
    return have + (0,) * (width - len(have)) < want + (0,) * (width - len(want))
