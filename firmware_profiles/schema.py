"""The shape of a firmware profile (one YAML file per vendor or model family)."""

from __future__ import annotations

import re
import string
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from firmware_profiles.versions import FirmwareVersion

__all__ = [
    "EncoderSettings",
    "FirmwareProfile",
    "OnvifService",
    "ProfileError",
    "RecommendedEncoding",
    "StreamTemplates",
    "Vulnerability",
]

_PLACEHOLDERS = frozenset({"host", "port", "channel"})


def _template_rest(template: str) -> str | None:
    """A stream template without its `rtsp://{host}[:{port}]` head; None for another head."""
    for head in ("rtsp://{host}:{port}", "rtsp://{host}"):
        if template.startswith(head) and "{host}" not in template[len(head) :]:
            rest = template[len(head) :]
            return None if "{port}" in rest or "{host}" in rest else rest
    return None


class ProfileError(ValueError):
    """A profile that is missing, malformed, or cannot answer the question asked."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_version(value: str | None) -> str | None:
    if value is not None:
        FirmwareVersion(value)  # raises with a clear message
    return value


class StreamTemplates(_Model):
    """RTSP URL templates; placeholders {host}, {port} and {channel} (1-based)."""

    main: str = Field(
        description="Main stream, e.g. rtsp://{host}:{port}/Streaming/Channels/{channel}01"
    )
    sub: str = Field(description="Sub stream (lower resolution, for previews and checks).")

    @field_validator("main", "sub")
    @classmethod
    def _valid_template(cls, template: str) -> str:
        if not template.startswith("rtsp://"):
            raise ValueError("a stream template starts with rtsp://")
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
        unknown = names - _PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"unknown placeholders {sorted(unknown)}; known: {sorted(_PLACEHOLDERS)}"
            )
        if "host" not in names:
            raise ValueError("a stream template needs {host}")
        return template


class OnvifService(_Model):
    """Whether and where the family answers ONVIF."""

    supported: bool = Field(description="The firmware implements ONVIF Profile S.")
    port: int = Field(default=80, ge=1, le=65535, description="Default HTTP port of ONVIF.")
    device_path: str = Field(default="/onvif/device_service", pattern=r"^/\S*$")
    media_path: str = Field(default="/onvif/media_service", pattern=r"^/\S*$")
    ptz_path: str | None = Field(default="/onvif/ptz_service", pattern=r"^/\S*$")


class EncoderSettings(_Model):
    """What one stream should be set to."""

    codec: Literal["h264", "h265"] = "h264"
    profile: Literal["baseline", "main", "high"] = "main"
    width: int = Field(ge=160, le=8192)
    height: int = Field(ge=120, le=8192)
    fps: int = Field(ge=1, le=60)
    gop_min: int = Field(ge=1, le=600, description="Frames per keyframe, at least.")
    gop_max: int = Field(ge=1, le=600, description="Frames per keyframe, at most.")
    bitrate_kbps: int = Field(ge=64, le=65536)

    @model_validator(mode="after")
    def _gop_ordered(self) -> EncoderSettings:
        if self.gop_min > self.gop_max:
            raise ValueError("gop_min is above gop_max")
        return self


class RecommendedEncoding(_Model):
    """The bureau's target for main and sub stream."""

    main: EncoderSettings
    sub: EncoderSettings


class Vulnerability(_Model):
    """A published weakness: firmware from `affected_from` (inclusive) up to `fixed_in`."""

    id: str = Field(min_length=3, max_length=64, description="e.g. CVE-2021-36260.")
    affected_from: str | None = Field(default=None, description="First affected; None: all.")
    fixed_in: str = Field(description="First version without it.")
    note: str = Field(min_length=1, max_length=500)

    _affected = field_validator("affected_from", "fixed_in")(_check_version)

    def affects(self, version: FirmwareVersion) -> bool:
        if self.affected_from is not None and version < FirmwareVersion(self.affected_from):
            return False
        return version < FirmwareVersion(self.fixed_in)


class FirmwareProfile(_Model):
    """One vendor or model family: how to reach its streams and what firmware is fit."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="Equals the file name.")
    vendor: str = Field(min_length=1, max_length=64)
    models: list[str] = Field(default_factory=list, description="Model families covered.")
    description: str = Field(default="", max_length=500)
    rtsp_port: int = Field(default=554, ge=1, le=65535)
    streams: StreamTemplates | None = Field(
        default=None, description="None: ask the camera for its stream URI (ONVIF GetStreamUri)."
    )
    onvif: OnvifService
    ptz: bool = Field(description="PTZ through ONVIF works on the family's PTZ models.")
    encoding: RecommendedEncoding
    min_firmware: str | None = Field(default=None, description="Oldest acceptable firmware.")
    vulnerable: list[Vulnerability] = Field(default_factory=list)

    _min = field_validator("min_firmware")(_check_version)

    @model_validator(mode="after")
    def _reachable(self) -> FirmwareProfile:
        if self.streams is None and not self.onvif.supported:
            raise ValueError("without stream templates the profile needs ONVIF")
        if self.ptz and (not self.onvif.supported or self.onvif.ptz_path is None):
            raise ValueError("ptz needs ONVIF with a ptz_path")
        return self

    def stream_url(
        self, host: str, *, channel: int = 1, sub: bool = False, port: int | None = None
    ) -> str:
        """The RTSP URL of a camera of this family (no credentials in it)."""
        if self.streams is None:
            raise ProfileError(
                f"profile {self.id!r} has no stream URL template: "
                "ask the camera for it (ONVIF GetStreamUri)"
            )
        if channel < 1:
            raise ProfileError(f"channel must be 1 or more, not {channel}")
        if not host or any(c in host for c in "/@?# "):
            raise ProfileError(f"not a host name or address: {host!r}")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 literal
        template = self.streams.sub if sub else self.streams.main
        return template.format(host=host, port=port or self.rtsp_port, channel=channel)

    def sub_url_for(self, main_url: str) -> str | None:
        """The sub stream of the camera whose main stream is `main_url`, or None.

        The main URL's path (and query) must match the family's main template; the sub URL
        keeps its scheme, login, host and port and takes the sub template's path for the same
        channel. None when the profile has no templates or the URL is not in its form.
        """
        if self.streams is None:
            return None
        main_rest, sub_rest = _template_rest(self.streams.main), _template_rest(self.streams.sub)
        if main_rest is None or sub_rest is None:
            return None
        parts = urlsplit(main_url)
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        pattern = re.escape(main_rest).replace(re.escape("{channel}"), r"(?P<channel>\d+)")
        found = re.fullmatch(pattern, rest)
        if found is None:
            return None
        channel = found.groupdict().get("channel")
        sub = sub_rest.replace("{channel}", channel) if channel else sub_rest
        if "{channel}" in sub:
            return None  # the main template does not say the channel; the sub one needs it
        return f"{parts.scheme}://{parts.netloc}{sub}"

    def firmware_ok(self, version: str) -> bool:
        """At or above the profile's minimum firmware (True when it sets none)."""
        parsed = FirmwareVersion(version)
        return self.min_firmware is None or parsed >= FirmwareVersion(self.min_firmware)

    def vulnerabilities(self, version: str) -> list[Vulnerability]:
        """The published weaknesses this firmware version has."""
        parsed = FirmwareVersion(version)
        return [v for v in self.vulnerable if v.affects(parsed)]

    def is_vulnerable(self, version: str) -> bool:
        return bool(self.vulnerabilities(version))
