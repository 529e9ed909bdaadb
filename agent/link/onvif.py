"""ONVIF PTZ and reboot: SOAP 1.2 over HTTP with a WS-Security UsernameToken digest.

Only the few operations the box needs (ContinuousMove, Stop, GotoPreset, SystemReboot), so a
hand-written envelope beats a WSDL toolchain. The service port and paths come from the
camera's firmware profile when one is known, else ONVIF's usual defaults.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import httpx

from protocol import CameraConfig

__all__ = ["OnvifCamera", "OnvifError", "OnvifPaths", "onvif_paths"]

log = logging.getLogger(__name__)

_PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
_DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
_MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
_SCHEMA_NS = "http://www.onvif.org/ver10/schema"


class OnvifError(Exception):
    """The camera refused or failed an ONVIF request (the message holds no secret)."""


@dataclass(frozen=True)
class OnvifPaths:
    """Where a camera model answers ONVIF."""

    port: int = 80
    device: str = "/onvif/device_service"
    media: str = "/onvif/media_service"
    ptz: str = "/onvif/ptz_service"


def onvif_paths(camera: CameraConfig) -> OnvifPaths:
    """The camera's ONVIF port and paths: its config, then its firmware profile, then defaults."""
    paths = OnvifPaths()
    if camera.profile:
        try:
            import firmware_profiles

            load = getattr(firmware_profiles, "load_profile", None)
            profile = load(camera.profile) if load else None
            onvif = getattr(profile, "onvif", None)
            if onvif is not None:
                paths = OnvifPaths(
                    port=int(getattr(onvif, "port", None) or paths.port),
                    device=str(getattr(onvif, "device_path", None) or paths.device),
                    media=str(getattr(onvif, "media_path", None) or paths.media),
                    ptz=str(getattr(onvif, "ptz_path", None) or paths.ptz),
                )
        except Exception as exc:  # an unknown or broken profile falls back to defaults
            log.warning("firmware profile %r unusable for ONVIF: %s", camera.profile, exc)
    if camera.onvif_port is not None:
        paths = OnvifPaths(camera.onvif_port, paths.device, paths.media, paths.ptz)
    return paths


def _security_header(username: str, password: str) -> str:
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    return (
        '<Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken>'
        f"<Username>{escape(username)}</Username>"
        '<Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-'
        f'token-profile-1.0#PasswordDigest">{digest.decode()}</Password>'
        '<Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-'
        f'message-security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</Nonce>'
        '<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
        f'utility-1.0.xsd">{created}</Created></UsernameToken></Security>'
    )


class OnvifCamera:
    """One camera's ONVIF device and PTZ services."""

    def __init__(
        self,
        host: str,
        paths: OnvifPaths,
        *,
        username: str | None,
        password: str | None,
        timeout: float = 5.0,
    ) -> None:
        self.base = f"http://{host}:{paths.port}"
        self.paths = paths
        self.username = username
        self.password = password
        self.timeout = timeout
        self._profile_token: str | None = None

    @classmethod
    def for_camera(cls, camera: CameraConfig, password: str | None) -> OnvifCamera:
        host = urlsplit(camera.url).hostname
        if not host:
            raise OnvifError(f"camera {camera.slot} has no host in its URL")
        return cls(host, onvif_paths(camera), username=camera.username, password=password)

    def _call(self, path: str, body: str, action: str) -> str:
        header = ""
        if self.username is not None:
            header = f"<s:Header>{_security_header(self.username, self.password or '')}</s:Header>"
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            f"{header}<s:Body>{body}</s:Body></s:Envelope>"
        )
        content_type = f'application/soap+xml; charset=utf-8; action="{action}"'
        try:
            response = httpx.post(
                self.base + path,
                content=envelope.encode(),
                headers={"Content-Type": content_type},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise OnvifError(f"ONVIF {action.rsplit('/', 1)[-1]} unreachable: {exc}") from exc
        if response.status_code != 200:
            reason = _fault_text(response.text) or f"HTTP {response.status_code}"
            raise OnvifError(f"ONVIF {action.rsplit('/', 1)[-1]} refused: {reason}")
        return response.text

    def profile_token(self) -> str:
        """The first media profile's token (PTZ requests name a profile)."""
        if self._profile_token is None:
            text = self._call(
                self.paths.media, f'<GetProfiles xmlns="{_MEDIA_NS}"/>', f"{_MEDIA_NS}/GetProfiles"
            )
            match = re.search(r"<(?:\w+:)?Profiles[^>]*\btoken=\"([^\"]+)\"", text)
            if not match:
                raise OnvifError("camera lists no media profile")
            self._profile_token = match.group(1)
        return self._profile_token

    def continuous_move(self, pan: float, tilt: float, zoom: float, duration_s: float) -> None:
        token = escape(self.profile_token())
        body = (
            f'<ContinuousMove xmlns="{_PTZ_NS}"><ProfileToken>{token}</ProfileToken>'
            f'<Velocity><PanTilt xmlns="{_SCHEMA_NS}" x="{pan:.3f}" y="{tilt:.3f}"/>'
            f'<Zoom xmlns="{_SCHEMA_NS}" x="{zoom:.3f}"/></Velocity>'
            f"<Timeout>PT{duration_s:g}S</Timeout></ContinuousMove>"
        )
        self._call(self.paths.ptz, body, f"{_PTZ_NS}/ContinuousMove")

    def stop(self) -> None:
        token = escape(self.profile_token())
        body = (
            f'<Stop xmlns="{_PTZ_NS}"><ProfileToken>{token}</ProfileToken>'
            "<PanTilt>true</PanTilt><Zoom>true</Zoom></Stop>"
        )
        self._call(self.paths.ptz, body, f"{_PTZ_NS}/Stop")

    def goto_preset(self, preset: str) -> None:
        token = escape(self.profile_token())
        body = (
            f'<GotoPreset xmlns="{_PTZ_NS}"><ProfileToken>{token}</ProfileToken>'
            f"<PresetToken>{escape(preset)}</PresetToken></GotoPreset>"
        )
        self._call(self.paths.ptz, body, f"{_PTZ_NS}/GotoPreset")

    def reboot(self) -> None:
        self._call(
            self.paths.device, f'<SystemReboot xmlns="{_DEVICE_NS}"/>', f"{_DEVICE_NS}/SystemReboot"
        )


def _fault_text(text: str) -> str | None:
    match = re.search(r"<(?:\w+:)?Text[^>]*>([^<]{1,200})<", text)
    return match.group(1) if match else None
