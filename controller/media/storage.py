"""Where media bytes live: a small interface, a directory by default (object storage later).

Keys are relative, slash-separated names (`clips/j-1a2b.mp4`, `snapshots/<box>/<slot>/<id>.jpg`).
An upload grows a *partial* object at its key until `finalise` makes it visible; only final
objects can be read or ranged, so a half-uploaded clip is never served.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = ["DirectoryStorage", "MediaStorage", "StorageFull", "validate_key"]

log = logging.getLogger(__name__)

_PART_NAME = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}"
_KEY = re.compile(rf"^{_PART_NAME}(?:/{_PART_NAME}){{0,5}}$")
_PART = ".part"
READ_CHUNK = 256 * 1024


class StorageFull(OSError):
    """The storage has no room for these bytes; nothing partial was kept."""


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative name (no '..', no absolute path)."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"bad media key {key!r}")
    return key


class MediaStorage(Protocol):
    """What the media service needs from a store of bytes."""

    def partial_size(self, key: str) -> int:
        """Bytes received so far for an unfinished upload (0 if none)."""
        ...

    def append(self, key: str, offset: int, data: bytes) -> int:
        """Write `data` at `offset` of the partial object; returns the new size."""
        ...

    def finalise(self, key: str) -> int:
        """Make the partial object the final one; returns its size."""
        ...

    def discard_partial(self, key: str) -> None: ...

    def put(self, key: str, data: bytes) -> None:
        """Store a whole object at once (atomically)."""
        ...

    def size(self, key: str) -> int | None:
        """Size of the final object, None if there is none."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes [start, end] (inclusive end; None = to the end) of the final object."""
        ...

    def head(self, key: str, length: int) -> bytes: ...

    def delete(self, key: str) -> None: ...


class DirectoryStorage:
    """Media under one directory; writes go through a temporary name and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def partial_size(self, key: str) -> int:
        part = self._path(key + _PART)
        return part.stat().st_size if part.exists() else 0

    def append(self, key: str, offset: int, data: bytes) -> int:
        part = self._path(key + _PART)
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "ab") as handle:
            if handle.tell() != offset:
                raise ValueError(f"offset {offset} differs from the stored {handle.tell()} bytes")
            try:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                handle.truncate(offset)  # keep the partial object exactly at `offset`
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFull(exc.errno, f"no space left for {key}") from exc
                raise
            return handle.tell()

    def finalise(self, key: str) -> int:
        part = self._path(key + _PART)
        final = self._path(key)
        os.replace(part, final)
        return final.stat().st_size

    def discard_partial(self, key: str) -> None:
        self._path(key + _PART).unlink(missing_ok=True)

    def put(self, key: str, data: bytes) -> None:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(final.name + ".tmp")
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(exc.errno, f"no space left for {key}") from exc
            raise

    def size(self, key: str) -> int | None:
        final = self._path(key)
        return final.stat().st_size if final.is_file() else None

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with open(self._path(key), "rb") as handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = handle.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def head(self, key: str, length: int) -> bytes:
        """The first `length` bytes of the partial object (to check what was uploaded)."""
        with open(self._path(key + _PART), "rb") as handle:
            return handle.read(length)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
