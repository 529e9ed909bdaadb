"""The segment writer: remuxes one camera's packets into time-bounded fragmented MP4 files.

Packets are never decoded. Each file is fragmented (a `moof` per keyframe, an empty `moov`
up front), so a SIGKILL or power cut loses at most the fragment being built; every file
starts on a keyframe and its timestamps start at zero. Only the video track is kept: MP4 cannot
hold the G.711 audio most cameras send, and dropping audio never fails a segment.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from agent.index import RecordingIndex

__all__ = ["RecorderError", "SegmentRecorder", "segment_path"]

log = logging.getLogger(__name__)

FRAGMENT_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
INDEX_UPDATE_S = 2.0
RECORDABLE_CODECS = frozenset({"h264", "hevc"})


class RecorderError(Exception):
    """A segment could not be written (unwritable or full disk, I/O error)."""


def segment_path(root: Path, slot: int, start: datetime) -> Path:
    """`<root>/rec/slot-01/2026-09-01/07/20260901T073000Z.mp4` (UTC)."""
    return (
        root
        / "rec"
        / f"slot-{slot:02d}"
        / start.strftime("%Y-%m-%d")
        / start.strftime("%H")
        / (start.strftime("%Y%m%dT%H%M%SZ") + ".mp4")
    )


@dataclass
class _OpenSegment:
    id: int
    path: Path
    output: Any
    stream: Any
    start: datetime
    first_dts: int
    last_dts: int
    frames: int
    last_index_update: float


class SegmentRecorder:
    """Writes the segments of one camera; one instance per camera worker (not thread-safe)."""

    def __init__(
        self, slot: int, root: Path, index: RecordingIndex, segment_seconds: float
    ) -> None:
        self.slot = slot
        self.root = root
        self.index = index
        self.segment_seconds = segment_seconds
        self._source: Any = None
        self._time_base = Fraction(1, 90000)
        self._anchor: tuple[datetime, int] | None = None
        self._segment: _OpenSegment | None = None
        self._last_dts: int | None = None
        self._frame_ticks = 0
        self.last_end: datetime | None = None

    @property
    def recording(self) -> bool:
        return self._segment is not None

    @property
    def current_start(self) -> datetime | None:
        seg = self._segment
        return seg.start if seg else None

    @property
    def current_path(self) -> Path | None:
        seg = self._segment
        return seg.path if seg else None

    def begin(self, source: Any, anchor_wall: datetime) -> None:
        """A new connection: `source` is the input video stream, `anchor_wall` its first packet."""
        self.finish()
        if source.codec_context.name not in RECORDABLE_CODECS:
            raise RecorderError(f"cannot record codec {source.codec_context.name!r}")
        self._source = source
        self._time_base = source.time_base or Fraction(1, 90000)
        self._anchor = None
        self._anchor_wall = anchor_wall
        self._last_dts = None
        self._frame_ticks = 0

    def wall_time(self, dts: int) -> datetime:
        """Wall-clock time of a packet, from the connection's anchor and the stream clock."""
        if self._anchor is None:
            self._anchor = (self._anchor_wall, dts)
        wall, base = self._anchor
        return wall + timedelta(seconds=float((dts - base) * self._time_base))

    def _seconds(self, ticks: int) -> float:
        return ticks * self._time_base.numerator / self._time_base.denominator

    def write(
        self, packet: av.Packet, dts: int | None = None, keyframe: bool | None = None
    ) -> None:
        """Mux one packet; opens and cuts segments on keyframes. RecorderError on I/O trouble.

        `dts` and `keyframe` may be passed when the caller has already read them from the
        packet (each read of a packet field is a call into PyAV; this runs for every packet).
        """
        if self._source is None:
            return
        if dts is None:
            dts = packet.dts
            if dts is None:
                return
        last_dts = self._last_dts
        if last_dts is not None:
            if dts <= last_dts:
                return  # the muxer refuses non-increasing timestamps; one lost frame, not a file
            step = dts - last_dts
            ticks = self._frame_ticks
            self._frame_ticks = step if ticks == 0 else (ticks * 7 + step) // 8
        elif self._anchor is None:
            self._anchor = (self._anchor_wall, dts)
        self._last_dts = dts
        seg = self._segment
        if keyframe is None:
            keyframe = packet.is_keyframe
        if keyframe:  # time arithmetic only here: once per GOP, not per packet
            if seg is not None and self._seconds(dts - seg.first_dts) >= self.segment_seconds:
                self.finish()
                seg = None
            if seg is None:
                seg = self._open(self.wall_time(dts), dts)
        elif seg is None:
            return  # wait for a keyframe: a segment never starts mid-GOP
        first = seg.first_dts
        pts = packet.pts
        packet.dts = dts - first
        packet.pts = (dts if pts is None else pts) - first
        packet.stream = seg.stream
        try:
            seg.output.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            self._abandon(f"write failed: {exc}")
            raise RecorderError(f"slot {self.slot}: cannot write {seg.path.name}: {exc}") from exc
        seg.last_dts = dts
        seg.frames += 1
        if keyframe:
            now_s = self._seconds(dts - first)
            if now_s - seg.last_index_update >= INDEX_UPDATE_S:
                seg.last_index_update = now_s
                self._update_index(seg, closed=False)

    def finish(self) -> None:
        """Close the open segment (if any) and finish its index row."""
        seg = self._segment
        if seg is None:
            return
        self._segment = None
        try:
            seg.output.close()
        except (OSError, av.FFmpegError) as exc:
            log.error("slot %s: closing %s failed: %s", self.slot, seg.path, exc)
        self._update_index(seg, closed=True)

    def _end_of(self, seg: _OpenSegment) -> datetime:
        ticks = seg.last_dts - seg.first_dts + self._frame_ticks
        return seg.start + timedelta(seconds=float(ticks * self._time_base))

    def _update_index(self, seg: _OpenSegment, *, closed: bool) -> None:
        end = self._end_of(seg)
        try:
            size = seg.path.stat().st_size
        except OSError:
            size = 0
        self.index.update_segment(seg.id, end, size, closed=closed)
        self.last_end = end

    def _open(self, start: datetime, dts: int) -> _OpenSegment:
        path = segment_path(self.root, self.slot, start)
        suffix = 1
        while path.exists():
            path = path.with_name(f"{path.stem.split('-')[0]}-{suffix}.mp4")
            suffix += 1
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            output = av.open(str(path), "w", format="mp4", options=dict(FRAGMENT_OPTIONS))
        except (OSError, av.FFmpegError) as exc:
            raise RecorderError(f"slot {self.slot}: cannot create {path}: {exc}") from exc
        try:
            stream = output.add_stream_from_template(self._source)
            if self._source.codec_context.name == "hevc":
                stream.codec_tag = "hvc1"  # the tag players (and Safari) expect for H.265
        except (ValueError, av.FFmpegError) as exc:
            output.close()
            path.unlink(missing_ok=True)
            raise RecorderError(f"slot {self.slot}: cannot set up {path.name}: {exc}") from exc
        codec = str(self._source.codec_context.name)
        sid = self.index.open_segment(self.slot, start, path, codec)
        seg = _OpenSegment(sid, path, output, stream, start, dts, dts, 0, 0.0)
        self._segment = seg
        log.debug("slot %s: segment %s opened", self.slot, path.name)
        return seg

    def _abandon(self, reason: str) -> None:
        """Drop the open segment after a write error; what reached the disk stays indexed."""
        seg = self._segment
        self._segment = None
        if seg is None:
            return
        with contextlib.suppress(OSError, av.FFmpegError):
            seg.output.close()
        try:
            self._update_index(seg, closed=True)
        except Exception:  # the index may be on the same failing disk
            log.exception("slot %s: index update after %s failed", self.slot, reason)
