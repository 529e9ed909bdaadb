"""Camera credentials: resolved on the box from a file or the environment, never logged.

A camera's password reaches the box as a reference (`env:NAME` or `file:/path`), never as
text in the configuration; the URL handed to FFmpeg carries it, every log line uses
`protocol.redact_url` instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from protocol import CameraConfig

__all__ = ["CredentialError", "resolve_secret", "stream_url"]


class CredentialError(Exception):
    """A password reference that cannot be resolved (the message never holds the secret)."""


def resolve_secret(ref: str) -> str:
    """The secret behind `env:NAME` or `file:/path` (trailing newline stripped)."""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise CredentialError(f"environment variable {where} is not set")
        return value
    if kind == "file":
        try:
            return Path(where).read_text().rstrip("\r\n")
        except OSError as exc:
            raise CredentialError(f"cannot read password file {where}: {exc.strerror}") from exc
    raise CredentialError(f"unknown secret reference kind {kind!r} (use env: or file:)")


def stream_url(camera: CameraConfig, *, sub_stream: bool = False) -> str:
    """The URL to open, with `username` and the resolved password put into it."""
    url = camera.sub_url if sub_stream and camera.sub_url else camera.url
    if camera.username is None and camera.password_ref is None:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    user = camera.username if camera.username is not None else (parts.username or "")
    password = resolve_secret(camera.password_ref) if camera.password_ref else parts.password
    userinfo = quote(user, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))
