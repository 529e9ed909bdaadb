"""Signed download URLs: a `<video>` or `<img>` cannot send a bearer token, so the API hands
out a URL whose query carries an expiry and an HMAC of path and expiry, and only to a caller
whose scope already allowed the object."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode

__all__ = ["sign_path", "verify_signature"]

_PURPOSE = b"schoolcam-media-url\x00"


def _mac(secret_key: str, path: str, expires: int) -> str:
    message = _PURPOSE + f"{path}\x00{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def sign_path(secret_key: str, path: str, *, now: datetime, ttl_s: int) -> str:
    """`path?expires=..&sig=..`, valid until now + ttl_s."""
    expires = int((now + timedelta(seconds=ttl_s)).timestamp())
    return f"{path}?{urlencode({'expires': expires, 'sig': _mac(secret_key, path, expires)})}"


def verify_signature(
    secret_key: str, path: str, *, expires: int | None, sig: str | None, now: datetime
) -> bool:
    """True when `sig` signs `path` with `expires` and that time has not passed."""
    if expires is None or not sig or expires < now.timestamp():
        return False
    return hmac.compare_digest(_mac(secret_key, path, expires), sig)
