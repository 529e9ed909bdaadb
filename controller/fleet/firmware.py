"""Judging a camera's firmware by its firmware profile (`firmware_profiles/`).

The birth's camera inventory names each camera's profile and firmware string. The profile
says the oldest acceptable firmware and the published weaknesses; the controller turns them
into two alarms per camera, `firmware_outdated` and `firmware_vulnerable`. The profiles are
the one place these facts live, so a bureau that wants a stricter minimum edits the profile
(and its review) rather than a controller setting that would drift from it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from firmware_profiles import FirmwareVersionError, ProfileError, load_profile

__all__ = ["FirmwareVerdict", "judge_firmware"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirmwareVerdict:
    """What the profile says of one firmware string; `known=False`: nothing can be said."""

    known: bool
    outdated: bool = False
    minimum: str | None = None
    vulnerabilities: tuple[str, ...] = ()


@functools.lru_cache(maxsize=4096)
def judge_firmware(profile: str | None, firmware: str | None) -> FirmwareVerdict:
    """The verdict for `firmware` under `profile`; unknown profiles and unreadable versions
    are logged once per pair and judged unknown (no alarm either way)."""
    if not profile or not firmware:
        return FirmwareVerdict(known=False)
    try:
        family = load_profile(profile)
        outdated = not family.firmware_ok(firmware)
        vulnerabilities = tuple(v.id for v in family.vulnerabilities(firmware))
    except (ProfileError, FirmwareVersionError) as exc:
        log.warning(
            "firmware not judged", extra={"profile": profile, "firmware": firmware, "why": str(exc)}
        )
        return FirmwareVerdict(known=False)
    return FirmwareVerdict(
        known=True,
        outdated=outdated,
        minimum=family.min_firmware,
        vulnerabilities=vulnerabilities,
    )
