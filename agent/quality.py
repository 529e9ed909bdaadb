"""Per-camera picture diagnosis: judges sampled keyframes, debounces, keeps a baseline.

One `QualityDiagnoser` per camera. Each sampled keyframe is measured (`agent.picture`),
judged against `protocol.QualityConfig`, and a fault is raised only after
`consecutive_hits` hits in a row and cleared after `consecutive_clears` clean samples in a
row. Some faults hide others: while the picture is lost (black or uniform) nothing else can
be judged, and a covered lens is also dark, soft and still; so signal loss suppresses every
other check and occlusion suppresses all but signal loss. Blur is judged against the
camera's own sharpness baseline, which learns only from samples with no fault at all.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import numpy as np
from av.video.frame import VideoFrame

from agent.keyframes import frame_planes
from agent.picture import ANALYSIS_WIDTH, PictureStats, Plane, downscale, measure
from protocol import QualityConfig, QualityFault

__all__ = [
    "DARK_SPREAD_FACTOR",
    "QualityDiagnoser",
    "QualityTransition",
    "SharpnessBaseline",
]

logger = logging.getLogger(__name__)

"""Laplacian variance (at 320 px wide) below which a picture is blurred whatever the
baseline says: catches a camera that was out of focus from its first sample. A focused
scene measures in the hundreds to thousands; the harness's blurred clip about 200."""

DARK_SPREAD_FACTOR: Final = 2.0
"""A dark picture (mean luma at or below `signal_loss_luma_max`) counts as lost while its
spread stays within this many times `uniform_std_max`: a dead sensor still shows some noise,
but a dark scene with a lit window or a street lamp has far more spread."""

_SUPPRESSES: Final = {
    QualityFault.SIGNAL_LOSS: frozenset(QualityFault) - {QualityFault.SIGNAL_LOSS},
    QualityFault.OCCLUSION: frozenset(QualityFault)
    - {QualityFault.SIGNAL_LOSS, QualityFault.OCCLUSION},
}
_ORDER: Final = (
    QualityFault.SIGNAL_LOSS,
    QualityFault.OCCLUSION,
    QualityFault.FROZEN,
    QualityFault.BLUR,
    QualityFault.BRIGHTNESS,
    QualityFault.COLOUR_CAST,
)


@dataclass(frozen=True)
class QualityTransition:
    """A fault raised after enough hits in a row, or cleared after enough clean samples."""

    fault: QualityFault
    state: Literal["raised", "cleared"]
    value: float | None
    threshold: float | None


@dataclass(frozen=True)
class _Finding:
    hit: bool
    value: float | None
    threshold: float | None


class SharpnessBaseline:
    """A high percentile of a camera's recent healthy sharpness.

    A percentile rather than a mean, so a few soft samples (rain, a passing bus) do not drag
    it down; a bounded window, so it follows a changed scene (day to night) within the
    window's span instead of forever.
    """

    def __init__(self, window: int = 120, percentile: float = 90.0, ready_after: int = 3) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self._percentile = percentile
        self._ready_after = ready_after
        self._value: float | None = None

    def learn(self, sharpness: float) -> None:
        self._samples.append(sharpness)
        if len(self._samples) >= self._ready_after:
            self._value = float(np.percentile(np.fromiter(self._samples, float), self._percentile))

    @property
    def value(self) -> float | None:
        """The baseline, or None until enough healthy samples were seen."""
        return self._value

    def clear(self) -> None:
        self._samples.clear()
        self._value = None


class _Debounce:
    """Consecutive hit and clean counts of one fault, and whether it is raised."""

    def __init__(self) -> None:
        self.hits = 0
        self.clears = 0
        self.active = False

    def forget(self) -> None:
        self.hits = 0
        self.clears = 0


class QualityDiagnoser:
    """Per-camera baseline and debouncing; signal loss suppresses the other checks."""

    def __init__(self, config: QualityConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._faults = {fault: _Debounce() for fault in _ORDER}
        self._baseline = SharpnessBaseline()
        self._previous: Plane | None = None
        self._last_stats: PictureStats | None = None
        self._last_sample_at: datetime | None = None

    def update_config(self, config: QualityConfig) -> None:
        """Judge the next sample by `config`; counts and baseline carry over."""
        with self._lock:
            self._config = config

    @property
    def active(self) -> frozenset[QualityFault]:
        """Faults raised and not yet cleared."""
        with self._lock:
            return frozenset(f for f, state in self._faults.items() if state.active)

    @property
    def baseline(self) -> float | None:
        """The camera's sharpness baseline, None while it is still being learnt."""
        return self._baseline.value

    @property
    def last_stats(self) -> PictureStats | None:
        """The figures of the last sample, for status pages and tuning."""
        return self._last_stats

    @property
    def last_sample_at(self) -> datetime | None:
        return self._last_sample_at

    def reset(self) -> None:
        """Forget the previous picture and pending counts (after a reconnect or a stream
        change). Raised faults stay raised until clean samples clear them, so the centre
        always hears a clear for every raise; the baseline stays (same camera, same scene)."""
        with self._lock:
            self._previous = None
            for state in self._faults.values():
                state.forget()

    def observe(self, frame: VideoFrame, at: datetime) -> list[QualityTransition]:
        """Judge one decoded keyframe taken at `at`; the faults raised or cleared by it."""
        with self._lock:
            config = self._config
            if not config.enabled:
                return self._clear_all()
            try:
                luma, chroma = frame_planes(frame)
                small = downscale(luma, ANALYSIS_WIDTH)
                stats = measure(small, chroma, self._previous)
            except Exception:
                logger.exception(
                    "picture could not be measured",
                    extra={"format": frame.format.name, "width": frame.width},
                )
                return []
            # Keep our own copy: the decoder may reuse the frame's buffers.
            self._previous = small.copy() if small.base is not None else small
            self._last_stats = stats
            self._last_sample_at = at
            return self._judge(stats, config)

    def observe_stats(self, stats: PictureStats, at: datetime) -> list[QualityTransition]:
        """Judge figures measured elsewhere (a test, a replay); same rules as `observe`."""
        with self._lock:
            if not self._config.enabled:
                return self._clear_all()
            self._last_stats = stats
            self._last_sample_at = at
            return self._judge(stats, self._config)

    def _judge(self, stats: PictureStats, config: QualityConfig) -> list[QualityTransition]:
        transitions: list[QualityTransition] = []
        held: set[QualityFault] = set()  # not judged on this sample
        overruled: set[QualityFault] = set()  # cleared: a raised fault explains them
        any_hit = False
        for fault in _ORDER:
            state = self._faults[fault]
            finding = None if fault in held else self._check(fault, stats, config)
            if finding is None:
                state.forget()
                if fault in overruled and state.active:
                    state.active = False
                    transitions.append(QualityTransition(fault, "cleared", None, None))
            else:
                any_hit = any_hit or finding.hit
                transition = self._debounce(fault, state, finding, config)
                if transition is not None:
                    transitions.append(transition)
            if fault in _SUPPRESSES:
                if state.active:
                    overruled |= _SUPPRESSES[fault]
                if state.active or (finding is not None and finding.hit):
                    held |= _SUPPRESSES[fault]
        if not any_hit and not any(s.active for s in self._faults.values()):
            self._baseline.learn(stats.sharpness)
        for transition in transitions:
            logger.info(
                "picture fault %s",
                transition.state,
                extra={"fault": str(transition.fault), "value": transition.value},
            )
        return transitions

    @staticmethod
    def _debounce(
        fault: QualityFault, state: _Debounce, finding: _Finding, config: QualityConfig
    ) -> QualityTransition | None:
        if finding.hit:
            state.hits += 1
            state.clears = 0
            if not state.active and state.hits >= config.consecutive_hits:
                state.active = True
                return QualityTransition(fault, "raised", finding.value, finding.threshold)
        else:
            state.clears += 1
            state.hits = 0
            if state.active and state.clears >= config.consecutive_clears:
                state.active = False
                return QualityTransition(fault, "cleared", finding.value, finding.threshold)
        return None

    def _check(
        self, fault: QualityFault, stats: PictureStats, config: QualityConfig
    ) -> _Finding | None:
        """One check on one sample; None when the sample cannot say (no chroma, no previous)."""
        if fault is QualityFault.SIGNAL_LOSS:
            if stats.spread <= config.uniform_std_max:
                return _Finding(True, stats.spread, config.uniform_std_max)
            dark = stats.brightness <= config.signal_loss_luma_max
            if dark and stats.spread <= config.uniform_std_max * DARK_SPREAD_FACTOR:
                return _Finding(True, stats.brightness, config.signal_loss_luma_max)
            return _Finding(False, stats.spread, config.uniform_std_max)
        if fault is QualityFault.OCCLUSION:
            hit = stats.texture < config.occlusion_texture_max
            return _Finding(hit, stats.texture, config.occlusion_texture_max)
        if fault is QualityFault.FROZEN:
            if stats.difference is None:
                return None
            hit = stats.difference <= config.frozen_diff_max
            return _Finding(hit, stats.difference, config.frozen_diff_max)
        if fault is QualityFault.BLUR:
            return self._check_blur(stats.sharpness, config)
        if fault is QualityFault.BRIGHTNESS:
            if stats.brightness < config.brightness_low:
                return _Finding(True, stats.brightness, config.brightness_low)
            if stats.brightness > config.brightness_high:
                return _Finding(True, stats.brightness, config.brightness_high)
            return _Finding(False, stats.brightness, None)
        if fault is QualityFault.COLOUR_CAST:
            if stats.chroma_offset is None:
                return None
            hit = stats.chroma_offset > config.colour_cast_max
            return _Finding(hit, stats.chroma_offset, config.colour_cast_max)
        return None

    def _check_blur(self, sharpness: float, config: QualityConfig) -> _Finding:
        floor = config.blur_sharpness_floor
        if sharpness < floor:
            return _Finding(True, sharpness, floor)
        baseline = self._baseline.value
        if baseline is None or baseline <= 0:
            return _Finding(False, sharpness, floor)
        ratio = sharpness / baseline
        return _Finding(ratio < config.blur_ratio_min, ratio, config.blur_ratio_min)

    def _clear_all(self) -> list[QualityTransition]:
        """Checks switched off: clear whatever is raised, so no alarm is left hanging."""
        transitions = []
        for fault, state in self._faults.items():
            if state.active:
                transitions.append(QualityTransition(fault, "cleared", None, None))
            state.active = False
            state.forget()
        self._previous = None
        return transitions
