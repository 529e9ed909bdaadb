"""Stream statistics from packets alone: codec, size, frame rate, bitrate, GOP, reliability.

Nothing here decodes. Frame rate and bitrate come from the packets of the last few seconds;
the GOP is the frame count between the last two keyframes; reconnects and stalls are counted
over the last hour.

Rates are measured on the stream's own clock (decode timestamps) while it runs forward
steadily, and on arrival times otherwise. Arrival times alone overstate a fresh connection:
the packets FFmpeg buffered while probing arrive all at once, so a 25 fps camera read as
27 fps for its first five seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from protocol import StreamStats, is_hd

__all__ = ["BROWSER_CODECS", "StreamFormat", "StreamStatsTracker"]

WINDOW_S = 5.0
MAX_MEDIA_STEP_S = 2.0  # a longer jump between packets is a discontinuity, not the frame rate
HOUR_S = 3600.0
BROWSER_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})


@dataclass(frozen=True)
class StreamFormat:
    """What the stream header says (codec and picture size), known before any packet."""

    codec: str
    width: int
    height: int
    audio_codec: str | None = None


class StreamStatsTracker:
    """Per camera; `packet` is called from the worker thread, `stats` from anywhere."""

    def __init__(self) -> None:
        self._format: StreamFormat | None = None
        # arrival, media time, size, and whether the stamp leapt from the packet before
        self._window: deque[tuple[float, float, int, bool]] = deque()
        self._last_media: float | None = None
        self._frames_since_key = 0
        self._gop: int | None = None
        self._last_key_at: float | None = None
        self._reconnects: deque[float] = deque()
        self._stalls: deque[float] = deque()

    @property
    def format(self) -> StreamFormat | None:
        return self._format

    def connected(self, fmt: StreamFormat) -> None:
        """A (new) connection delivered this stream format."""
        self._format = fmt
        self._window.clear()
        self._last_media = None
        self._frames_since_key = 0

    def packet(self, at: float, media_s: float, size: int, keyframe: bool) -> None:
        """One video packet arrived at monotonic time `at`, stamped `media_s` by the stream.

        A stamp that goes backwards or leaps (a camera restarting its clock, or one that
        lies) makes the window fall back to arrival times until it has slid past the leap.
        """
        window = self._window
        last = self._last_media
        leapt = last is not None and not 0.0 <= media_s - last <= MAX_MEDIA_STEP_S
        self._last_media = media_s
        window.append((at, media_s, size, leapt))
        while at - window[0][0] > WINDOW_S:  # never empties: the packet just added stays
            window.popleft()
        if keyframe:
            if self._last_key_at is not None and self._frames_since_key > 0:
                self._gop = self._frames_since_key
            self._frames_since_key = 1
            self._last_key_at = at
        else:
            self._frames_since_key += 1

    def seconds_since_keyframe(self, now: float) -> float | None:
        return None if self._last_key_at is None else now - self._last_key_at

    def reconnected(self, at: float) -> None:
        self._reconnects.append(at)

    def stalled(self, at: float) -> None:
        self._stalls.append(at)

    def _per_hour(self, times: deque[float], now: float) -> float:
        while times and now - times[0] > HOUR_S:
            times.popleft()
        return float(len(times))

    def stats(self, now: float, *, delivering: bool = True) -> StreamStats | None:
        """The current figures, or None before the first connection.

        `delivering=False` (a camera known to be down) gives rates of zero at once, while the
        format and reliability counts stay: a dark camera must not show the frame rate of
        its last five seconds.
        """
        fmt = self._format
        if fmt is None:
            return None
        window = list(self._window)
        fps = 0.0
        kbps = 0.0
        if delivering and len(window) >= 2 and now - window[-1][0] <= WINDOW_S:
            later = window[1:]  # a leap into the first packet lies outside the span
            steady = not any(leapt for _, _, _, leapt in later)
            first, last = window[0], window[-1]
            span = last[1] - first[1] if steady else 0.0
            if span <= 0:  # no usable stamps at all (or all equal): arrival is all there is
                span = last[0] - first[0]
            if span > 0:
                fps = len(later) / span
                kbps = (sum(size for _, _, size, _ in later) * 8 / 1000) / span
        return StreamStats(
            codec=fmt.codec,
            width=fmt.width,
            height=fmt.height,
            fps=round(min(fps, 1000.0), 2),
            bitrate_kbps=round(kbps, 1),
            gop=float(self._gop) if self._gop is not None else None,
            hd=is_hd(fmt.width, fmt.height),
            browser_playable=fmt.codec in BROWSER_CODECS,
            audio_codec=fmt.audio_codec,
            reconnects_per_hour=self._per_hour(self._reconnects, now),
            stalls_per_hour=self._per_hour(self._stalls, now),
        )
