"""Camera vendor/model profiles (data): stream URL templates, capabilities, minimum firmware.

A profile per vendor or model family lives in `profiles/<id>.yaml`, validated by
`FirmwareProfile`. This package is data and a small loader; it imports only pydantic and
PyYAML, so agent, controller and provisioning can all use it.

Errors: `ProfileError` (a ValueError) for a broken profile or a question it cannot answer;
`UnknownProfileError` (also a LookupError) for a name that is not shipped;
`FirmwareVersionError` (a ValueError) for a version string with no number in it.
"""

from firmware_profiles.loader import UnknownProfileError, all_profiles, load_profile, parse_profile
from firmware_profiles.schema import (
    EncoderSettings,
    FirmwareProfile,
    OnvifService,
    ProfileError,
    RecommendedEncoding,
    StreamTemplates,
    Vulnerability,
)
from firmware_profiles.versions import FirmwareVersion, FirmwareVersionError

__all__ = [
    "EncoderSettings",
    "FirmwareProfile",
    "FirmwareVersion",
    "FirmwareVersionError",
    "OnvifService",
    "ProfileError",
    "RecommendedEncoding",
    "StreamTemplates",
    "UnknownProfileError",
    "Vulnerability",
    "all_profiles",
    "load_profile",
    "parse_profile",
]
