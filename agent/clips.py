"""Recording search and clip export, as the link layer's commands and jobs call them.

A clip is the recorded packets of [start, end] remuxed (never transcoded) from the segments
into one MP4 that plays from its first keyframe; stretches with no recording inside the range
are reported as gaps (the player sees a jump in time there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from agent.index import Gap, RecordingIndex, Segment
from agent.interfaces import CommandFailed
from protocol import (
    ClipResult,
    CommandErrorCode,
    GapInfo,
    RecordingSearchResult,
    SegmentInfo,
)

__all__ = ["covering_gaps", "export_clip", "search"]

log = logging.getLogger(__name__)

MAX_ITEMS = 5000
MIN_HOLE_S = 1.0


def search(
    index: RecordingIndex, slot: int, start: datetime, end: datetime
) -> RecordingSearchResult:
    """Segments and gaps of one camera overlapping [start, end), oldest first."""
    segments = index.segments(slot, start, end)
    gaps = index.gaps(slot, start, end)
    truncated = len(segments) > MAX_ITEMS or len(gaps) > MAX_ITEMS
    return RecordingSearchResult(
        slot=slot,
        segments=[
            SegmentInfo(start=s.start, end=s.end, bytes=s.bytes) for s in segments[:MAX_ITEMS]
        ],
        gaps=[GapInfo(start=g.start, end=g.end, reason=g.reason) for g in gaps[:MAX_ITEMS]],
        truncated=truncated,
    )


def covering_gaps(
    segments: list[Segment], known: list[Gap], start: datetime, end: datetime
) -> list[GapInfo]:
    """The stretches of [start, end] no segment covers, each with the index's reason if any."""
    holes: list[tuple[datetime, datetime]] = []
    cursor = start
    for seg in segments:
        if seg.start > cursor:
            holes.append((cursor, min(seg.start, end)))
        cursor = max(cursor, seg.end)
        if cursor >= end:
            break
    if cursor < end:
        holes.append((cursor, end))
    result: list[GapInfo] = []
    for a, b in holes:
        if (b - a).total_seconds() < MIN_HOLE_S:
            continue
        reason = next((g.reason for g in known if g.start < b and g.end > a), "not recorded")
        result.append(GapInfo(start=a, end=b, reason=reason))
    return result[:MAX_ITEMS]


@dataclass
class _Writer:
    output: Any
    stream: Any
    time_base: Fraction
    origin: datetime
    fmt: tuple[str, int, int]
    first_dts: int | None = None
    last_dts: int = -1
    step: int = 0


def _fmt(stream: Any) -> tuple[str, int, int]:
    return (str(stream.codec_context.name), int(stream.width or 0), int(stream.height or 0))


def export_clip(
    index: RecordingIndex,
    slot: int,
    start: datetime,
    end: datetime,
    destination: Path,
    *,
    progress: Callable[[float], None],
    cancelled: Callable[[], bool],
) -> ClipResult:
    """Remux the recording of [start, end] into `destination`; CommandFailed if nothing plays."""
    if end <= start:
        raise CommandFailed(CommandErrorCode.BAD_ARGUMENTS, "end must be after start")
    segments = index.segments(slot, start, end)
    gaps = covering_gaps(segments, index.gaps(slot, start, end), start, end)
    if not segments:
        raise CommandFailed(CommandErrorCode.FAILED, f"slot {slot}: nothing recorded in range")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    writer: _Writer | None = None
    try:
        for number, seg in enumerate(segments):
            if cancelled():
                raise CommandFailed(CommandErrorCode.FAILED, "clip export cancelled")
            writer = _copy_segment(seg, start, end, partial, writer, cancelled, gaps)
            progress((number + 1) / len(segments))
        if writer is None or writer.first_dts is None:
            raise CommandFailed(CommandErrorCode.FAILED, f"slot {slot}: no keyframe in range")
        writer.output.close()
        duration = float((writer.last_dts - writer.first_dts + writer.step) * writer.time_base)
        partial.replace(destination)
    except BaseException:
        if writer is not None:
            try:
                writer.output.close()
            except Exception:
                log.debug("closing a failed clip", exc_info=True)
        partial.unlink(missing_ok=True)
        raise
    return ClipResult(bytes=destination.stat().st_size, duration_s=round(duration, 3), gaps=gaps)


def _copy_segment(
    seg: Segment,
    start: datetime,
    end: datetime,
    partial: Path,
    writer: _Writer | None,
    cancelled: Callable[[], bool],
    gaps: list[GapInfo],
) -> _Writer | None:
    try:
        source = av.open(str(seg.path))
    except (OSError, av.FFmpegError) as exc:
        log.warning("slot %s: segment %s unreadable for a clip: %s", seg.slot, seg.path, exc)
        gaps.append(GapInfo(start=seg.start, end=seg.end, reason="segment unreadable"))
        return writer
    with source:
        video = source.streams.video[0]
        tb = video.time_base or Fraction(1, 90000)
        if writer is not None and (_fmt(video) != writer.fmt or tb != writer.time_base):
            gaps.append(GapInfo(start=seg.start, end=seg.end, reason="stream format changed"))
            return writer
        pending: list[av.Packet] = []
        for count, packet in enumerate(source.demux(video)):
            if packet.dts is None or packet.size == 0:
                continue
            if count % 200 == 0 and cancelled():
                raise CommandFailed(CommandErrorCode.FAILED, "clip export cancelled")
            at = seg.start + timedelta(seconds=float(int(packet.dts) * tb))
            if at >= end:
                break
            if writer is None or writer.first_dts is None:
                if packet.is_keyframe:
                    pending = []
                if at < start:
                    if packet.is_keyframe or pending:
                        pending.append(packet)
                    continue
                if not pending and not packet.is_keyframe:
                    continue
                pending.append(packet)
                if writer is None:
                    first_at = seg.start + timedelta(seconds=float(int(pending[0].dts or 0) * tb))
                    writer = _open_writer(partial, video, first_at)
                for held in pending:
                    _mux(writer, held, seg)
                pending = []
                continue
            _mux(writer, packet, seg)
    return writer


def _open_writer(path: Path, template: Any, origin: datetime) -> _Writer:
    output = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    stream = output.add_stream_from_template(template)
    if template.codec_context.name == "hevc":
        stream.codec_tag = "hvc1"
    tb = template.time_base or Fraction(1, 90000)
    return _Writer(output, stream, tb, origin, _fmt(template))


def _mux(writer: _Writer, packet: av.Packet, seg: Segment) -> None:
    offset = round((seg.start - writer.origin).total_seconds() / writer.time_base)
    dts = offset + int(packet.dts or 0)
    pts = offset + int(packet.pts if packet.pts is not None else packet.dts or 0)
    if dts <= writer.last_dts:
        dts = writer.last_dts + 1
    pts = max(pts, dts)
    if writer.first_dts is None:
        writer.first_dts = dts
    elif writer.step == 0 or dts - writer.last_dts < 10 * writer.step:
        writer.step = dts - writer.last_dts  # a frame's length, ignoring jumps over gaps
    packet.dts = dts
    packet.pts = pts
    packet.stream = writer.stream
    writer.output.mux(packet)
    writer.last_dts = dts
