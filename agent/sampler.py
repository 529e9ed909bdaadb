"""SubStreamSampler: a camera's picture checks taken from its sub stream, on their own thread.

When a sample is due and the camera's main stream is online, the sampler opens the sub
stream, takes its first keyframe, closes it and hands the picture to the worker's judge
(`agent.substream.grab_keyframe`). While it works, `active` is True and the worker decodes no
main-stream keyframe for the checks (snapshots still come from the main stream). A sub
stream that fails or stalls sets `active` to False at once, so the worker samples its main
stream again; that is logged once, and the sub stream is retried with backoff (the sample
interval, doubled per failure, up to `retry_max_s`) until it works again, which is logged
once too. A session lost because the camera itself went down (the main stream is no longer
online when it fails) is not counted against the sub stream. The main stream, its recording
and the worker's thread never wait for the sampler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from av.video.frame import VideoFrame

from agent.credentials import CredentialError
from agent.roles import PeriodicRole
from agent.source import SourceError
from agent.substream import grab_keyframe
from protocol import QualityConfig, redact_url, utc_now

__all__ = ["SubStreamSampler"]

log = logging.getLogger(__name__)

IDLE_WAIT_S = 1.0
"""How often an idle sampler looks again (camera offline, checks off)."""


class SubStreamSampler(PeriodicRole):
    """Samples one camera's sub stream every `sample_interval_s` while its main stream is up."""

    def __init__(
        self,
        slot: int,
        url: Callable[[], str],
        judge: Callable[[VideoFrame, datetime], None],
        *,
        quality: Callable[[], QualityConfig],
        online: Callable[[], bool],
        on_thread: Callable[[], None] = lambda: None,
        budget_s: float = 5.0,
        retry_max_s: float = 300.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`url` gives the sub stream with its login (resolved on each session, so a changed
        password file is picked up); `judge` takes each picture; `on_thread` runs first on
        the sampler's thread (the worker binds it to the camera CPU there)."""
        super().__init__(
            f"sub-stream-{slot:02d}", IDLE_WAIT_S, join_timeout_s=10.0, tick_at_start=True
        )
        self.slot = slot
        self._url = url
        self._judge = judge
        self._quality = quality
        self._online = online
        self._on_thread = on_thread
        self._budget_s = budget_s
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._on_thread_done = False
        self._next_at = 0.0
        self.active = True
        """False while the sub stream fails: the worker then samples its main stream."""
        self.failures = 0
        """Failed sessions in a row (0 while the sub stream works)."""
        self.pictures = 0
        """Sub-stream sessions tried (each one keyframe when it works)."""
        self.cpu_s = 0.0
        """CPU seconds of those sessions: open, wait for the keyframe, decode, checks."""

    # -- the loop ----------------------------------------------------------------------------

    def tick(self) -> None:
        if not self._on_thread_done:
            self._on_thread_done = True
            try:
                self._on_thread()
            except Exception:
                log.exception("slot %s: sub-stream sampler set-up failed", self.slot)
        now = time.monotonic()
        quality = self._quality()
        if now < self._next_at or not quality.enabled or not self._online():
            # Nothing due, or the main stream is down: that is a capture fault for the
            # worker to report, not a picture to judge.
            return
        if self._sample():
            self._next_at = now + quality.sample_interval_s
        else:
            backoff = quality.sample_interval_s * 2 ** max(0, self.failures - 1)
            self._next_at = time.monotonic() + min(self._retry_max_s, backoff)

    def next_wait_s(self) -> float:
        now = time.monotonic()
        wait = self._next_at - now if now < self._next_at else IDLE_WAIT_S
        return min(wait, IDLE_WAIT_S * 5)

    def _sample(self) -> bool:
        """One session; True if a picture was taken (and judged)."""
        started = time.thread_time()
        url = ""
        try:
            url = self._url()
            frame = grab_keyframe(url, budget_s=self._budget_s)
        except (SourceError, CredentialError) as exc:
            self._failed(str(exc))
            return False
        except Exception as exc:  # never let a surprise end the thread
            log.exception("slot %s: sub-stream session failed", self.slot)
            self._failed(f"{type(exc).__name__} on {redact_url(url)}")
            return False
        else:
            self._worked()
            try:
                self._judge(frame, self._clock())
            except Exception:
                log.exception("slot %s: judging a sub-stream picture failed", self.slot)
            return True
        finally:
            self.pictures += 1
            self.cpu_s += time.thread_time() - started

    def _failed(self, reason: str) -> None:
        if not self._online():
            # The camera went down under the session (its main stream noticed first): that
            # is the worker's capture fault to report, not a sub stream that fails.
            log.debug("slot %s: sub-stream sample lost with the camera: %s", self.slot, reason)
            return
        self.failures += 1
        if self.active:
            self.active = False
            log.warning(
                "slot %s: sub stream failed (%s); picture checks sample the main stream "
                "until it is back",
                self.slot,
                reason[:300],
            )
        else:
            log.debug("slot %s: sub stream still failing: %s", self.slot, reason[:300])

    def _worked(self) -> None:
        if not self.active:
            log.info(
                "slot %s: sub stream is back after %d failed tries; picture checks use it again",
                self.slot,
                self.failures,
            )
        self.failures = 0
        self.active = True
