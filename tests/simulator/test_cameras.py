"""The RTSP test cameras, read by PyAV as the agent reads a real camera."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt
import psutil
import pytest

from simulator.cameras import CameraSimulator, CameraSimulatorError, Fault, send_control

# Until tests/conftest.py lists it; registering a plugin twice is harmless.

Luma = npt.NDArray[np.uint8]


# --- reading a camera ----------------------------------------------------------------------


def open_rtsp(url: str, timeout: float = 5.0) -> av.container.InputContainer:
    options = {"rtsp_transport": "tcp", "timeout": str(int(timeout * 1_000_000))}
    return av.open(url, options=options)


@dataclass(frozen=True)
class Picture:
    """What a picture checker measures on one decoded keyframe (luma at 320x180)."""

    width: int
    height: int
    luma: Luma

    @property
    def brightness(self) -> float:
        return float(cv2.mean(self.luma)[0])

    @property
    def spread(self) -> float:
        return float(cv2.meanStdDev(self.luma)[1][0][0])

    @property
    def sharpness(self) -> float:
        return float(cv2.meanStdDev(cv2.Laplacian(self.luma, cv2.CV_64F))[1][0][0] ** 2)

    def difference(self, other: Picture) -> float:
        return float(cv2.mean(cv2.absdiff(self.luma, other.luma))[0])


def keyframes(container: av.container.InputContainer, within: float = 10.0) -> Iterator[Picture]:
    """Decode only the keyframes (each IDR carries its parameter sets), for at most ``within``
    seconds."""
    stream = container.streams.video[0]
    decoder = cast(av.VideoCodecContext, av.CodecContext.create(stream.codec_context.name, "r"))
    deadline = time.monotonic() + within
    for packet in container.demux(stream):
        if time.monotonic() > deadline:
            return
        if not (packet.is_keyframe and packet.size):
            continue
        for frame in decoder.decode(packet):
            assert isinstance(frame, av.VideoFrame)
            y = frame.to_ndarray(format="yuv420p")[: frame.height]
            small = cv2.resize(y, (320, 180), interpolation=cv2.INTER_AREA)
            yield Picture(frame.width, frame.height, np.asarray(small, dtype=np.uint8))


def disconnected(packets: Iterator[av.Packet], within: float = 8.0) -> bool:
    """Whether the server ends the stream within ``within`` seconds (after what was in flight)."""
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            next(packets)
    except (StopIteration, av.error.FFmpegError):
        return True
    return False


def first(pictures: Iterator[Picture], count: int) -> list[Picture]:
    taken = list(itertools.islice(pictures, count))
    assert len(taken) == count, f"got {len(taken)} keyframes, wanted {count}"
    return taken


# --- a clean camera --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_clean_camera_sends_1080p25_h264_with_a_keyframe_every_second(
    rtsp_cameras: CameraSimulator,
) -> None:
    with open_rtsp(rtsp_cameras.url(1)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (1920, 1080)
        assert stream.guessed_rate == 25
        packets = [p for p in itertools.islice(container.demux(stream), 90) if p.size]
    assert stream.time_base is not None
    seconds = [float(p.pts * stream.time_base) for p in packets if p.pts is not None]
    assert len(seconds) >= 80
    assert {round(b - a, 6) for a, b in itertools.pairwise(seconds)} == {0.04}
    keys = [index for index, packet in enumerate(packets) if packet.is_keyframe]
    assert len(keys) >= 3
    assert {b - a for a, b in itertools.pairwise(keys)} == {25}


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_clean_camera_looks_sharp_bright_and_alive(rtsp_cameras: CameraSimulator) -> None:
    with open_rtsp(rtsp_cameras.url(1)) as container:
        one, two = first(keyframes(container), 2)
    assert (one.width, one.height) == (1920, 1080)
    assert 80 < one.brightness < 180
    assert one.spread > 20
    assert one.sharpness > 500
    assert one.difference(two) > 5, "consecutive keyframes must differ"


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_the_sub_stream_is_640x360(rtsp_cameras: CameraSimulator) -> None:
    with open_rtsp(rtsp_cameras.url(2, sub=True)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        (picture,) = first(keyframes(container), 1)
    assert (picture.width, picture.height) == (640, 360)
    assert picture.sharpness > 500


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("rtsp_cameras", [16], indirect=True)
def test_a_school_has_sixteen_cameras(rtsp_cameras: CameraSimulator) -> None:
    assert rtsp_cameras.status()["count"] == 16
    assert len(set(rtsp_cameras.urls())) == 16
    with open_rtsp(rtsp_cameras.url(16, sub=True)) as container:
        assert container.streams.video[0].codec_context.height == 360


# --- faults ----------------------------------------------------------------------------------


# Whether a keyframe shows the fault, given the clean keyframe before the switch and the
# keyframe before this one: (clean, previous, current) -> bool.
Shows = Callable[[Picture, Picture, Picture], bool]

SHOWS: dict[Fault, Shows] = {
    Fault.BLACK: lambda clean, _, now: now.brightness < 20 and now.spread < 2,
    Fault.BLUR: (
        lambda clean, _, now: (
            now.sharpness < clean.sharpness / 20 and abs(now.brightness - clean.brightness) < 15
        )
    ),
    Fault.COVER: (
        lambda clean, _, now: (
            20 < now.brightness < 50 and now.spread < 15 and now.sharpness < clean.sharpness / 20
        )
    ),
    Fault.FROZEN: (lambda clean, before, now: now.difference(before) < 0.5 and now.sharpness > 500),
}


@pytest.mark.slow
@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", list(SHOWS), ids=str)
def test_a_picture_fault_changes_the_keyframes_of_a_connected_client(
    rtsp_cameras: CameraSimulator, fault: Fault
) -> None:
    shows = SHOWS[fault]
    with open_rtsp(rtsp_cameras.url(1)) as container:
        pictures = keyframes(container, within=12)
        before, clean = first(pictures, 2)
        assert not shows(clean, before, clean), "the clean picture passed for faulty"
        rtsp_cameras.set_fault(1, fault)
        previous = clean
        # The switch waits for the next keyframe; a second or so of video is still in flight.
        for current in itertools.islice(pictures, 5):
            if shows(clean, previous, current):
                return
            previous = current
    pytest.fail(f"no keyframe showed {fault} within 5 keyframes")


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_picture_fault_reaches_the_sub_stream_too(rtsp_cameras: CameraSimulator) -> None:
    rtsp_cameras.set_fault(3, Fault.BLACK)
    with open_rtsp(rtsp_cameras.url(3, sub=True)) as container:
        (picture,) = first(keyframes(container), 1)
    assert (picture.width, picture.height) == (640, 360)
    assert picture.brightness < 20


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_gone_disconnects_the_client_refuses_new_ones_until_cleared(
    rtsp_cameras: CameraSimulator,
) -> None:
    url = rtsp_cameras.url(2)
    container = open_rtsp(url)
    try:
        packets = container.demux(container.streams.video[0])
        assert len(list(itertools.islice(packets, 10))) == 10
        rtsp_cameras.set_fault(2, Fault.GONE)
        assert disconnected(packets), "the client was still served 8 s after the camera went"
    finally:
        container.close()
    for refused in (url, rtsp_cameras.url(2, sub=True)):
        with pytest.raises(av.error.HTTPNotFoundError):
            open_rtsp(refused)
    assert rtsp_cameras.status()["cameras"][1]["clients"] == 0

    rtsp_cameras.set_fault(2, Fault.NONE)
    with open_rtsp(url) as back:
        assert back.streams.video[0].codec_context.width == 1920
        assert next(back.demux(back.streams.video[0])).size > 0


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_lowres_restarts_the_main_stream_at_640x360_and_back(rtsp_cameras: CameraSimulator) -> None:
    url = rtsp_cameras.url(4)
    with open_rtsp(url) as full:
        packets = full.demux(full.streams.video[0])
        next(packets)
        rtsp_cameras.set_fault(4, Fault.LOWRES)
        assert disconnected(packets), "a resolution change must restart the stream"
    with open_rtsp(url) as low:
        video = low.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        (picture,) = first(keyframes(low), 1)
        assert (picture.width, picture.height) == (640, 360)
        rtsp_cameras.set_fault(4, Fault.NONE)
        assert disconnected(low.demux(video))
    with open_rtsp(url) as back:
        assert back.streams.video[0].codec_context.height == 1080


@pytest.mark.slow
@pytest.mark.timeout(40)
def test_stall_keeps_the_session_but_no_more_media_arrives(rtsp_cameras: CameraSimulator) -> None:
    opened_at = time.monotonic()
    with open_rtsp(rtsp_cameras.url(3), timeout=2) as container:
        stream = container.streams.video[0]
        packets = container.demux(stream)
        while time.monotonic() - opened_at < 2:
            next(packets)
        rtsp_cameras.set_fault(3, Fault.STALL)
        stalled_at = time.monotonic()

        time.sleep(1.5)
        camera = rtsp_cameras.status()["cameras"][2]
        assert camera["clients"] == 1, "the stalled camera dropped its client"
        time.sleep(0.5)
        assert rtsp_cameras.status()["cameras"][2]["units_sent"] == camera["units_sent"]

        last_pts = 0
        with pytest.raises(av.error.TimeoutError):
            for packet in packets:
                if packet.pts is not None:
                    last_pts = max(last_pts, packet.pts)
    # The client never saw media from after the stall (its clock started when it opened).
    assert stream.time_base is not None
    assert float(last_pts * stream.time_base) < stalled_at - opened_at + 0.5


# --- control channel and lifecycle ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_the_control_channel_rejects_unknown_faults_and_cameras(
    rtsp_cameras: CameraSimulator,
) -> None:
    with pytest.raises(ValueError, match="unknown fault 'smoke'"):
        rtsp_cameras.set_fault(1, "smoke")
    for camera in (0, 5):
        with pytest.raises(ValueError, match="no camera"):
            rtsp_cameras.set_fault(camera, Fault.BLACK)

    port = rtsp_cameras.control_port
    assert send_control(port, "fault 1 smoke").startswith("error unknown fault 'smoke'")
    assert send_control(port, "fault 9 black").startswith("error no camera '9': cameras are 1..4")
    assert send_control(port, "fault 1").startswith("error usage")
    assert send_control(port, "reboot").startswith("error unknown command")

    rtsp_cameras.set_fault(4, Fault.BLUR)
    status = rtsp_cameras.status()
    assert status["faults"] == [fault.value for fault in Fault], "server and client disagree"
    assert [camera["fault"] for camera in status["cameras"]] == ["none", "none", "none", "blur"]


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_stop_leaves_no_process_behind(camera_clips: Path) -> None:
    simulator = CameraSimulator(2, cache_dir=camera_clips).start()
    pid = simulator.pid
    assert pid is not None and psutil.pid_exists(pid)
    simulator.stop()
    assert not psutil.pid_exists(pid)
    assert not simulator.running
    simulator.stop()  # twice is fine
    with pytest.raises(CameraSimulatorError, match="not running"):
        simulator.status()


# --- H.265, logins, missing keyframes --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_an_hevc_camera_sends_h265_with_a_keyframe_every_second(
    rtsp_camera_factory: Callable[..., CameraSimulator],
) -> None:
    cameras = rtsp_camera_factory(2, hevc={2})
    assert [c["codec"] for c in cameras.status()["cameras"]] == ["h264", "hevc"]
    for sub, size in ((False, (1920, 1080)), (True, (640, 360))):
        with open_rtsp(cameras.url(2, sub=sub)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "hevc"
            packets = [p for p in itertools.islice(container.demux(stream), 60) if p.size]
            keys = [index for index, packet in enumerate(packets) if packet.is_keyframe]
            assert {b - a for a, b in itertools.pairwise(keys)} == {25}
        with open_rtsp(cameras.url(2, sub=sub)) as container:
            pictures = first(keyframes(container), 2)
        assert all((p.width, p.height) == size for p in pictures)
        assert pictures[0].sharpness > 100 and pictures[0].spread > 20
        assert pictures[0].difference(pictures[1]) > 2  # the scene moves


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_a_camera_with_a_login_refuses_others_with_401(
    rtsp_camera_factory: Callable[..., CameraSimulator],
) -> None:
    cameras = rtsp_camera_factory(2, logins={2: ("viewer", "pa:ss w@rd")})
    for url in (cameras.url(2), cameras.login_url(2, "viewer", "nope"), cameras.url(2, True)):
        with pytest.raises(av.error.FFmpegError, match="401"):
            open_rtsp(url).close()
    with open_rtsp(cameras.login_url(2, "viewer", "pa:ss w@rd", sub=True)) as container:
        assert container.streams.video[0].codec_context.width == 640
    with open_rtsp(cameras.url(1)) as container:  # the camera without a login is open
        assert container.streams.video[0].codec_context.width == 1920
    assert [c["login"] for c in cameras.status()["cameras"]] == [False, True]
    with pytest.raises(ValueError, match="no camera 3"):
        CameraSimulator(2, logins={3: ("a", "b")})


@pytest.mark.slow
@pytest.mark.timeout(30)
def test_nokey_leaves_out_every_keyframe_until_cleared(rtsp_cameras: CameraSimulator) -> None:
    def keys_during(packets: Iterator[av.Packet], seconds: float) -> tuple[int, int]:
        """(keyframes, packets) that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        keys = count = 0
        while time.monotonic() < deadline:
            packet = next(packets)
            keys, count = keys + int(bool(packet.is_keyframe)), count + 1
        return keys, count

    with open_rtsp(rtsp_cameras.url(1)) as container:
        stream = container.streams.video[0]
        packets = (p for p in container.demux(stream) if p.size)
        next(packets)
        rtsp_cameras.set_fault(1, Fault.NOKEY)
        keys_during(packets, 0.5)  # what was in flight
        keys, count = keys_during(packets, 2.5)
        assert keys == 0 and count >= 50  # P-frames still arrive at 25 fps
        rtsp_cameras.set_fault(1, Fault.NONE)
        assert keys_during(packets, 2.0)[0] >= 1


def fake_servers() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if any("fake-python" in part for part in child.cmdline())
    ]


def fake_server(tmp_path: Path, body: str) -> str:
    """A stand-in for the GStreamer interpreter, to test how failures are reported."""
    script = tmp_path / "fake-python"
    script.write_text(f"#!{sys.executable}\nimport signal, sys, time\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.timeout(10)
def test_a_server_that_dies_at_start_is_reported_with_its_stderr(tmp_path: Path) -> None:
    python = fake_server(tmp_path, "print('No module named gi', file=sys.stderr); sys.exit(3)")
    simulator = CameraSimulator(python=python, manifest=tmp_path / "manifest.json")
    with pytest.raises(CameraSimulatorError, match=r"(?s)exit code 3.*No module named gi"):
        simulator.start()
    assert not simulator.running
    assert fake_servers() == []


@pytest.mark.timeout(10)
def test_a_server_that_never_gets_ready_is_killed(tmp_path: Path) -> None:
    python = fake_server(tmp_path, "time.sleep(30)")
    simulator = CameraSimulator(python=python, manifest=tmp_path / "m.json", startup_timeout=0.5)
    with pytest.raises(CameraSimulatorError, match=r"not ready after 0\.5 s"):
        simulator.start()
    assert simulator.pid is None
    assert fake_servers() == []


@pytest.mark.timeout(10)
def test_a_server_that_ignores_sigterm_is_killed_and_reaped(tmp_path: Path) -> None:
    python = fake_server(
        tmp_path,
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('READY rtsp=1 control=2', flush=True)\n"
        "time.sleep(30)",
    )
    simulator = CameraSimulator(python=python, manifest=tmp_path / "m.json").start()
    pid = simulator.pid
    assert pid is not None
    assert simulator.url(1) == "rtsp://127.0.0.1:1/cam1"
    simulator.stop(grace=0.3)
    assert not psutil.pid_exists(pid)
