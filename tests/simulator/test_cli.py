"""`schoolcam-sim cameras` from the command line: H.265 cameras and logins by flag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from simulator.cli import parse_camera_list, parse_login
from tests.harness.ports import free_port


def test_camera_lists_and_logins_parse_or_say_what_is_wrong() -> None:
    assert parse_camera_list("") == set()
    assert parse_camera_list("2, 5,2") == {2, 5}
    assert parse_login("3=viewer:se:cret") == (3, ("viewer", "se:cret"))
    with pytest.raises(ValueError, match="camera number"):
        parse_camera_list("2,x")
    for bad in ("viewer:secret", "3=viewer", "x=viewer:secret", "3=:secret"):
        with pytest.raises(ValueError, match="CAM=USER:PASSWORD") as caught:
            parse_login(bad)
        assert "secret" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_cameras_command_serves_h265_and_a_login() -> None:
    rtsp, control = free_port(), free_port()
    command = [
        *(str(Path(sys.executable).with_name("schoolcam-sim")), "cameras", "--count", "3"),
        *("--port", str(rtsp), "--control-port", str(control)),
        *("--hevc", "2", "--login", "3=viewer:secret"),
    ]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ)
    )
    try:
        assert server.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(lines) < 4:
            lines.append(server.stdout.readline().decode())
        assert "(H.265)" in lines[2] and "(H.264, login viewer)" in lines[3], lines
        assert "secret" not in "".join(lines)
        base = f"rtsp://127.0.0.1:{rtsp}"
        options = {"rtsp_transport": "tcp"}
        with av.open(f"{base}/cam2", options=options, timeout=10) as hevc:
            assert hevc.streams.video[0].codec_context.name == "hevc"
        with pytest.raises(av.FFmpegError, match="401"):
            av.open(f"{base}/cam3", options=options, timeout=10)
        with av.open(f"rtsp://viewer:secret@127.0.0.1:{rtsp}/cam3", options=options, timeout=10):
            pass
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
