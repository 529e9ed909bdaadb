"""Loading the profiles shipped in `firmware_profiles/profiles/`."""

from __future__ import annotations

import functools
from importlib import resources

import yaml
from pydantic import ValidationError

from firmware_profiles.schema import FirmwareProfile, ProfileError

__all__ = ["UnknownProfileError", "all_profiles", "load_profile", "parse_profile"]


class UnknownProfileError(ProfileError, LookupError):
    """No profile of that name ships with schoolcam."""


def parse_profile(text: str, *, source: str, expected_id: str | None = None) -> FirmwareProfile:
    """One profile from YAML text; `source` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: a profile is a mapping, not {type(data).__name__}")
    try:
        profile = FirmwareProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source}: {exc}") from exc
    if expected_id is not None and profile.id != expected_id:
        raise ProfileError(f"{source}: id {profile.id!r} differs from its file name")
    return profile


@functools.cache
def all_profiles() -> dict[str, FirmwareProfile]:
    """Every shipped profile by id; a broken file raises ProfileError naming it."""
    folder = resources.files("firmware_profiles") / "profiles"
    profiles: dict[str, FirmwareProfile] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        stem = entry.name.removesuffix(".yaml")
        profiles[stem] = parse_profile(
            entry.read_text(encoding="utf-8"), source=entry.name, expected_id=stem
        )
    return profiles


def load_profile(name: str) -> FirmwareProfile:
    """The profile called `name`; UnknownProfileError lists the known ones."""
    profiles = all_profiles()
    try:
        return profiles[name]
    except KeyError:
        known = ", ".join(sorted(profiles))
        raise UnknownProfileError(f"unknown firmware profile {name!r}; known: {known}") from None
