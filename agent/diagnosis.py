"""The camera worker's door to picture checks: keyframe decoding and the quality diagnoser.

`agent.quality` may be absent from a build (or fail to import); the worker then keeps
recording and reporting, with no picture checks, and says so once in the log.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime
from typing import Any, Protocol

from protocol import QualityConfig, QualityFault

__all__ = ["Diagnoser", "make_diagnoser"]

log = logging.getLogger(__name__)


class Transition(Protocol):
    """What `agent.quality.QualityTransition` offers."""

    fault: QualityFault
    state: str
    value: float | None
    threshold: float | None


class Diagnoser(Protocol):
    """What `agent.quality.QualityDiagnoser` offers."""

    def update_config(self, config: QualityConfig) -> None: ...
    def observe(self, frame: Any, at: datetime) -> list[Any]: ...
    @property
    def active(self) -> frozenset[QualityFault]: ...
    def reset(self) -> None: ...


class _NoDiagnosis:
    """Stands in when the quality module is missing: no checks, no faults."""

    def update_config(self, config: QualityConfig) -> None:
        pass

    def observe(self, frame: Any, at: datetime) -> list[Any]:
        return []

    @property
    def active(self) -> frozenset[QualityFault]:
        return frozenset()

    def reset(self) -> None:
        pass


_warned = False


def make_diagnoser(config: QualityConfig) -> Diagnoser:
    """A QualityDiagnoser for one camera, or a no-op one if the module is unavailable."""
    global _warned
    try:
        module = importlib.import_module("agent.quality")
        diagnoser: Diagnoser = module.QualityDiagnoser(config)
        return diagnoser
    except Exception as exc:
        if not _warned:
            log.warning("picture checks unavailable (%s); recording goes on without them", exc)
            _warned = True
        return _NoDiagnosis()
