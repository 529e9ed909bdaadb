"""Cheap decoding of sampled keyframes, and zero-copy views of their planes.

The camera worker remuxes every packet without decoding; only now and then does it hand one
keyframe here, for a picture check or a snapshot. Each keyframe is decoded on its own (the
decoder skips non-key frames and is flushed after every picture), on one thread, so a sample
costs one intra-frame decode (about 15 ms at 1080p) and never waits for later packets.
"""

from __future__ import annotations

import logging

import av
import numpy as np
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from agent.picture import Plane

__all__ = ["KeyframeDecoder", "frame_planes"]

logger = logging.getLogger(__name__)

# Formats whose first plane is 8-bit luma and whose next two (if any) are 8-bit U and V.
_PLANAR_8BIT = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "gray"}
)
_SEMI_PLANAR = frozenset({"nv12", "nv21"})


class KeyframeDecoder:
    """Decodes selected keyframes of one stream cheaply (skips non-key frames)."""

    def __init__(self, stream: VideoStream) -> None:
        source = stream.codec_context
        self.codec_name: str = source.name
        self._extradata: bytes | None = source.extradata
        self._context = self._open()

    def _open(self) -> VideoCodecContext:
        context = CodecContext.create(self.codec_name, "r")
        assert isinstance(context, VideoCodecContext)
        if self._extradata:
            context.extradata = self._extradata
        context.thread_count = 1
        context.skip_frame = "NONKEY"
        return context

    def decode(self, packet: av.Packet) -> VideoFrame | None:
        """A keyframe packet -> its picture; None for a non-key or undecodable packet.

        The packet is sent, then the decoder is drained and flushed, so a decoder that holds
        pictures back (reordering delay, frame threads) still gives this one up at once.
        """
        if not packet.is_keyframe:
            return None
        frame: VideoFrame | None = None
        try:
            for decoded in self._context.decode(packet):
                frame = decoded
            if frame is None:
                for decoded in self._context.decode(None):
                    frame = decoded
        except av.FFmpegError as exc:
            logger.warning(
                "keyframe could not be decoded",
                extra={"codec": self.codec_name, "error": str(exc), "bytes": packet.size},
            )
            self._context = self._open()
            return None
        try:
            self._context.flush_buffers()
        except av.FFmpegError:
            self._context = self._open()
        if frame is None:
            logger.debug("keyframe gave no picture", extra={"codec": self.codec_name})
        return frame


def _plane_view(frame: VideoFrame, index: int, width: int) -> Plane:
    """Plane `index` as a (height, width) uint8 view that skips the line padding; no copy."""
    plane = frame.planes[index]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, :width]


def frame_planes(frame: VideoFrame) -> tuple[Plane, tuple[Plane, Plane] | None]:
    """The luma plane and the (U, V) planes of a decoded picture, without colour conversion.

    8-bit planar and NV12/NV21 pictures are viewed in place; any other format (10-bit,
    RGB) is first converted to yuv420p, which costs a copy but keeps the checks working.
    Grey pictures have no chroma (None).
    """
    name = frame.format.name
    if name not in _PLANAR_8BIT and name not in _SEMI_PLANAR:
        frame = frame.reformat(format="yuv420p")
        name = "yuv420p"
    luma = _plane_view(frame, 0, frame.width)
    if name == "gray":
        return luma, None
    if name in _SEMI_PLANAR:
        chroma_plane = frame.planes[1]
        pairs = _plane_view(frame, 1, chroma_plane.width * 2)
        u = np.ascontiguousarray(pairs[:, 0::2])
        v = np.ascontiguousarray(pairs[:, 1::2])
        return luma, ((u, v) if name == "nv12" else (v, u))
    u = _plane_view(frame, 1, frame.planes[1].width)
    v = _plane_view(frame, 2, frame.planes[2].width)
    return luma, (u, v)
