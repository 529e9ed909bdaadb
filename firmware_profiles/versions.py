"""Firmware version strings as vendors write them, made comparable.

Vendors do not use one format: Hikvision says ``V5.7.3 build 230301``, Dahua
``V2.800.0000016.0.R, Build Date: 2021-07-14``, others ``5.5.0``. A version is compared by
its first dotted number (``5.7.3``), then by its build number (``230301``, also written
``V5.7.3_230301``, or a build date as ``20210714``); letters and suffixes (``V``, ``.R``)
carry no order. Builds are only comparable within one vendor's numbering.
"""

from __future__ import annotations

import re
from functools import total_ordering

__all__ = ["FirmwareVersion", "FirmwareVersionError"]

_DOTTED = re.compile(r"\d+(?:\.\d+)+")
_NUMBER = re.compile(r"\d+")
_BUILD = re.compile(r"(?:build\D{0,8}?|(?<=\d)_)(\d[\d-]*)", re.IGNORECASE)


class FirmwareVersionError(ValueError):
    """A firmware version string with no number in it to compare."""


@total_ordering
class FirmwareVersion:
    """A parsed firmware version: its dotted numbers and an optional build number."""

    __slots__ = ("build", "numbers", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        build = _BUILD.search(text)
        head = text[: build.start()] if build else text
        dotted = _DOTTED.search(head)
        if dotted:
            numbers = [int(part) for part in dotted.group().split(".")]
        else:
            numbers = [int(part) for part in _NUMBER.findall(head)]
        if not numbers:
            raise FirmwareVersionError(
                f"firmware version {text!r} has no version number to compare "
                "(expected e.g. 'V5.7.3 build 230301' or '2.800.0000016.0')"
            )
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()  # 5.7 == 5.7.0
        self.numbers = tuple(numbers)
        self.build = int(build.group(1).replace("-", "")) if build else None

    def _key(self) -> tuple[tuple[int, ...], int]:
        return self.numbers, self.build or 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FirmwareVersion):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: FirmwareVersion) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"FirmwareVersion({self.text!r})"
