"""Keyframe decoding for H.264 and H.265, raw and in a container, and plane views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.stream import VideoStream

from agent.keyframes import KeyframeDecoder, frame_planes

pytestmark = pytest.mark.timeout(60)

WIDTH, HEIGHT, FRAMES, GOP = 320, 180, 30, 10


def encode_clip(path: Path, codec: str, container_format: str | None) -> None:
    """A small moving test clip: a keyframe every GOP frames, no B-frames."""
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=25)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.codec_context.max_b_frames = 0
        if codec == "libx265":
            params = f"keyint={GOP}:min-keyint={GOP}:bframes=0:log-level=none"
            stream.options = {"x265-params": params}
        else:
            stream.options = {"x264-params": f"keyint={GOP}:min-keyint={GOP}:bframes=0:scenecut=0"}
        rng = np.random.default_rng(7)
        for index in range(FRAMES):
            planes = rng.integers(0, 256, (HEIGHT * 3 // 2, WIDTH), dtype=np.uint8)
            planes[: HEIGHT // 2] = (index * 8) % 256  # the top half says which frame it is
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def keyframe_packets(path: Path) -> Iterator[tuple[KeyframeDecoder, av.Packet]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = KeyframeDecoder(stream)
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.size:
                yield decoder, packet


@pytest.mark.parametrize(
    ("codec", "suffix", "container_format"),
    [
        ("libx264", "h264", "h264"),  # Annex-B, parameter sets in band
        ("libx264", "mp4", None),  # avcC: parameter sets only in the extradata
        ("libx265", "hevc", "hevc"),
        ("libx265", "mp4", None),
    ],
)
def test_every_keyframe_decodes_on_its_own(
    tmp_path: Path, codec: str, suffix: str, container_format: str | None
) -> None:
    path = tmp_path / f"clip.{suffix}"
    encode_clip(path, codec, container_format)
    tops = []
    for decoder, packet in keyframe_packets(path):
        frame = decoder.decode(packet)
        assert frame is not None
        assert (frame.width, frame.height) == (WIDTH, HEIGHT)
        luma, chroma = frame_planes(frame)
        assert chroma is not None
        tops.append(round(float(luma[: HEIGHT // 4].mean())))
    # Keyframes at 0, 10, 20: each picture is its own, not a neighbour's.
    assert tops == [0, 80, 160]


def test_non_key_and_broken_packets_give_none_and_the_decoder_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "clip.h264"
    encode_clip(path, "libx264", "h264")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = KeyframeDecoder(stream)
        packets = [p for p in container.demux(stream) if p.size]
    keyframes = [p for p in packets if p.is_keyframe]
    others = [p for p in packets if not p.is_keyframe]
    assert decoder.decode(others[0]) is None
    garbage = av.Packet(b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 4)
    garbage.is_keyframe = True
    assert decoder.decode(garbage) is None
    assert decoder.decode(av.Packet(b"")) is None
    assert decoder.decode(keyframes[1]) is not None


def test_luma_view_skips_line_padding_without_copying() -> None:
    frame = av.VideoFrame(330, 180, "yuv420p")  # 330 is padded to a wider line
    assert frame.planes[0].line_size > 330
    luma, chroma = frame_planes(frame)
    assert luma.shape == (180, 330)
    assert chroma is not None and chroma[0].shape == (90, 165)
    luma[5, 7] = 99  # a view: writing through it changes the frame itself
    assert frame.to_ndarray()[5, 7] == 99


def test_semi_planar_grey_and_ten_bit_frames_are_read_too() -> None:
    nv12 = av.VideoFrame(320, 180, "nv12")
    pairs = np.frombuffer(memoryview(nv12.planes[1]), np.uint8).reshape(90, -1)
    pairs[:, 0::2] = 100  # U
    pairs[:, 1::2] = 150  # V
    _, chroma = frame_planes(nv12)
    assert chroma is not None
    assert (int(chroma[0].mean()), int(chroma[1].mean())) == (100, 150)

    grey = av.VideoFrame.from_ndarray(np.full((180, 320), 50, np.uint8), format="gray")
    luma, chroma = frame_planes(grey)
    assert chroma is None and int(luma.mean()) == 50

    planes = np.full((270, 320), 128, np.uint8)
    planes[:180] = 200
    ten_bit = av.VideoFrame.from_ndarray(planes, "yuv420p").reformat(format="yuv420p10le")
    luma, chroma = frame_planes(ten_bit)
    assert luma.dtype == np.uint8 and abs(int(luma.mean()) - 200) <= 2
