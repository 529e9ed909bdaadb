"""Opening a camera's stream with PyAV: RTSP over TCP, bounded waits, small buffers.

Every open and every read is bounded (FFmpeg's socket timeout plus PyAV's interrupt-based
open/read timeouts), so a camera that hangs can never hold its worker longer than a few
seconds. The demuxer buffers are kept small: sixteen cameras share one process.

The socket timeout alone is not enough: a camera whose encoder stalls while its RTSP server
lives on keeps sending RTCP reports, so the socket never falls silent and FFmpeg's read never
returns. PyAV's read timeout catches that, at a price: its interrupt check takes the GIL on
every socket read, thousands of times a second per camera; see `agent.camera.camera_cpu` for
how the camera threads keep that cheap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import av
import av.error

from agent.stats import StreamFormat, StreamStatsTracker
from protocol import StreamStats, redact_url

__all__ = [
    "SUPPORTED_SCHEMES",
    "SourceError",
    "UnsupportedCodec",
    "UnsupportedUrl",
    "ffmpeg_reason",
    "open_source",
    "probe_url",
]

log = logging.getLogger(__name__)

SUPPORTED_SCHEMES = frozenset({"rtsp", "rtsps"})
VIDEO_CODECS = frozenset({"h264", "hevc"})


class SourceError(Exception):
    """The stream could not be opened or read; `auth` when the camera refused the login."""

    def __init__(self, message: str, *, auth: bool = False) -> None:
        super().__init__(message)
        self.auth = auth


class UnsupportedUrl(SourceError):
    """Not an RTSP URL: nothing to retry until the configuration changes."""


class UnsupportedCodec(SourceError):
    """The camera sends video the box does not record (MJPEG, MPEG-4...)."""


@dataclass
class OpenSource:
    """An open input and its video stream."""

    container: Any
    video: Any
    format: StreamFormat

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:
            log.debug("closing an input failed", exc_info=True)


def check_url(url: str) -> None:
    """UnsupportedUrl unless the URL is rtsp:// or rtsps://."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise UnsupportedUrl(f"unsupported URL scheme {scheme or '(none)'!r}; use rtsp://")


QUICK_PROBE = {"probesize": "32", "analyzeduration": "0"}
"""Options for a session that only wants one keyframe: the stream's codec and parameter sets
come from the SDP, so FFmpeg need not read (and try to decode) a second of packets first.
That probe is most of what opening a session costs (docs/performance.md)."""


def input_options(read_timeout_s: float) -> dict[str, str]:
    """FFmpeg options for one camera: TCP, a socket timeout, and modest buffers."""
    return {
        "rtsp_transport": "tcp",
        "timeout": str(int(read_timeout_s * 1_000_000)),
        "buffer_size": "262144",
        "max_delay": "500000",
        "reorder_queue_size": "16",
        "probesize": "500000",
        "analyzeduration": "1000000",
        "fflags": "nobuffer",
    }


def ffmpeg_reason(exc: av.FFmpegError, url: str | None = None, *, waited_s: float) -> str:
    """FFmpeg's own words for a failure, fit for a log or a camera status.

    PyAV's text is "[Errno N] words: 'url'": the number means nothing to a reader and the URL
    may carry the camera's login. An exit request is our own timeout (`waited_s`) cutting
    FFmpeg short; "Immediate exit requested" would not say so.
    """
    if isinstance(exc, av.error.ExitError):
        return f"no answer within {waited_s:g} s"
    text = exc.strerror or type(exc).__name__
    return text.replace(url, redact_url(url)) if url else text


def open_source(
    url: str, *, open_timeout_s: float = 10.0, read_timeout_s: float = 5.0, quick: bool = False
) -> OpenSource:
    """Open `url`; SourceError (or a subclass) with a log-safe message on any failure.

    `quick` skips FFmpeg's probe of the first packets (`QUICK_PROBE`): for short sessions
    that decode with their own `KeyframeDecoder` and need no picture size from the header.
    """
    check_url(url)
    options = input_options(read_timeout_s)
    if quick:
        options.update(QUICK_PROBE)
    try:
        container = av.open(
            url,
            options=options,
            timeout=(open_timeout_s, read_timeout_s),
        )
    except av.FFmpegError as exc:
        text = ffmpeg_reason(exc, url, waited_s=open_timeout_s)
        auth = "401" in text or "nauthorized" in text or "403" in text
        raise SourceError(f"cannot open {redact_url(url)}: {text}", auth=auth) from exc
    except OSError as exc:
        raise SourceError(f"cannot open {redact_url(url)}: {exc.strerror or exc}") from exc
    if not container.streams.video:
        container.close()
        raise UnsupportedCodec("the stream has no video track")
    video = container.streams.video[0]
    codec = str(video.codec_context.name)
    if codec not in VIDEO_CODECS:
        container.close()
        raise UnsupportedCodec(f"video codec {codec!r} is not recorded (H.264 or H.265 only)")
    audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    fmt = StreamFormat(codec, int(video.width or 0), int(video.height or 0), audio)
    return OpenSource(container, video, fmt)


def probe_url(url: str, *, timeout_s: float = 10.0) -> StreamStats:
    """Open a stream now, read it for up to ~3 s (two keyframes at most), say what it delivers."""
    deadline = time.monotonic() + timeout_s
    source = open_source(url, open_timeout_s=timeout_s, read_timeout_s=min(5.0, timeout_s))
    tracker = StreamStatsTracker()
    tracker.connected(source.format)
    seconds_per_tick = float(source.video.time_base or 0)
    keys = 0
    started = time.monotonic()
    try:
        for packet in source.container.demux(source.video):
            now = time.monotonic()
            if packet.size and packet.dts is not None:
                media_s = packet.dts * seconds_per_tick
                tracker.packet(now, media_s, packet.size, bool(packet.is_keyframe))
                keys += int(bool(packet.is_keyframe))
            if keys >= 2 or now - started > 3.0 or now > deadline:
                break
    except av.FFmpegError as exc:
        reason = ffmpeg_reason(exc, url, waited_s=min(5.0, timeout_s))
        raise SourceError(f"reading {redact_url(url)} failed: {reason}") from exc
    finally:
        source.close()
    stats = tracker.stats(time.monotonic())
    assert stats is not None
    return stats
