"""A camera's sub stream: where it is, and one keyframe taken from it in a short session.

Picture checks look at a picture shrunk to 320 px wide, so the camera's 640x360 sub stream
shows them what the 1080p main stream shows (the harness's clips measure within a few per
cent on both), and its keyframe decodes in about 3 ms instead of about 17 ms. The sub stream
is opened only when a sample is due (connect, take the first keyframe, close): a session
kept open costs more than the 1080p decode it replaces, because receiving RTSP costs per
frame far more than per byte (docs/performance.md, "Edge agent").
"""

from __future__ import annotations

import logging
import time

import av
from av.video.frame import VideoFrame

from agent.credentials import stream_url
from agent.keyframes import KeyframeDecoder
from agent.source import SourceError, ffmpeg_reason, open_source
from firmware_profiles import ProfileError, load_profile
from protocol import CameraConfig, redact_url

__all__ = ["grab_keyframe", "sub_stream_credentials_url", "sub_stream_url"]

log = logging.getLogger(__name__)


def sub_stream_url(camera: CameraConfig) -> str | None:
    """The camera's sub stream (no password in it): `sub_url`, else derived from its profile.

    A profile with URL templates (Hikvision `.../101` -> `.../102`) derives it from the main
    URL; a profile without them, a URL not in the profile's form or an unknown profile gives
    None (the checks then sample the main stream).
    """
    if camera.sub_url:
        return camera.sub_url
    if camera.profile is None:
        return None
    try:
        profile = load_profile(camera.profile)
    except ProfileError as exc:
        log.warning("slot %s: no sub stream from profile: %s", camera.slot, exc)
        return None
    return profile.sub_url_for(camera.url)


def sub_stream_credentials_url(camera: CameraConfig, sub_url: str) -> str:
    """`sub_url` with the camera's login put into it, as `stream_url` does for the main one."""
    return stream_url(camera.model_copy(update={"sub_url": sub_url}), sub_stream=True)


def grab_keyframe(url: str, *, budget_s: float = 5.0) -> VideoFrame:
    """Open `url`, decode its first keyframe, close; SourceError if that takes over `budget_s`.

    The open is bounded by `budget_s`, each read by half of it, and the wait for a decodable
    keyframe by what is left of it, so a stream that stalls, never sends a keyframe or does
    not answer costs its caller at most about 1.5 x `budget_s`.
    """
    deadline = time.monotonic() + budget_s
    source = open_source(url, open_timeout_s=budget_s, read_timeout_s=budget_s / 2, quick=True)
    try:
        decoder = KeyframeDecoder(source.video)
        for packet in source.container.demux(source.video):
            if packet.is_keyframe and packet.size:
                frame = decoder.decode(packet)
                if frame is not None:
                    return frame
            if time.monotonic() > deadline:
                break
    except av.FFmpegError as exc:
        reason = ffmpeg_reason(exc, url, waited_s=budget_s / 2)
        raise SourceError(f"reading {redact_url(url)} failed: {reason}") from exc
    finally:
        source.close()
    raise SourceError(f"no keyframe from {redact_url(url)} within {budget_s:.0f} s")
