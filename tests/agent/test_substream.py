"""Where a camera's sub stream is, and one keyframe taken from it in a short session."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from agent.sampler import SubStreamSampler
from agent.source import SourceError, UnsupportedUrl
from agent.substream import grab_keyframe, sub_stream_credentials_url, sub_stream_url
from protocol import CameraConfig, QualityConfig
from simulator.cameras import CameraSimulator
from tests.agent.helpers import wait_until

HIK_MAIN = "rtsp://10.20.0.11:554/Streaming/Channels/101"


def camera(**fields: object) -> CameraConfig:
    return CameraConfig.model_validate({"slot": 1, "name": "gate", "url": HIK_MAIN, **fields})


def test_an_explicit_sub_url_wins_over_the_profile() -> None:
    chosen = "rtsp://10.20.0.11:554/other/sub"
    assert sub_stream_url(camera(sub_url=chosen, profile="hikvision")) == chosen


def test_the_profile_derives_the_sub_stream_when_none_is_given() -> None:
    derived = sub_stream_url(camera(profile="hikvision"))
    assert derived == "rtsp://10.20.0.11:554/Streaming/Channels/102"


@pytest.mark.parametrize("profile", [None, "onvif", "no-such-vendor"])
def test_without_a_usable_profile_there_is_no_sub_stream(profile: str | None) -> None:
    assert sub_stream_url(camera(profile=profile)) is None


def test_the_login_goes_into_the_sub_stream_url_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOOLCAM_TEST_SUB_PW", "s3cret/1")
    cam = camera(profile="hikvision", username="viewer", password_ref="env:SCHOOLCAM_TEST_SUB_PW")
    sub = sub_stream_url(cam)
    assert sub is not None and "s3cret" not in sub
    assert sub_stream_credentials_url(cam, sub) == (
        "rtsp://viewer:s3cret%2F1@10.20.0.11:554/Streaming/Channels/102"
    )


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a hung camera."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"rtsp://127.0.0.1:{listener.getsockname()[1]}/sub"


@pytest.mark.timeout(30)
def test_a_hung_sub_stream_gives_up_within_its_budget(silent_server: str) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError):
        grab_keyframe(silent_server, budget_s=2.0)
    assert time.monotonic() - started < 2.0 * 1.5 + 1.0


def test_a_url_that_is_not_rtsp_is_refused() -> None:
    with pytest.raises(UnsupportedUrl):
        grab_keyframe("http://127.0.0.1/cam.mjpg", budget_s=1.0)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_keyframe_of_the_sub_stream_is_a_640x360_picture(
    rtsp_cameras: CameraSimulator,
) -> None:
    frame = grab_keyframe(rtsp_cameras.url(1, sub=True), budget_s=5.0)
    assert (frame.width, frame.height) == (640, 360)
    assert frame.key_frame


@pytest.mark.timeout(30)
def test_a_sample_lost_with_the_whole_camera_is_not_a_sub_stream_failure(
    silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The camera goes dark while a sub-stream session waits: the main stream reports it,
    and the sub stream is neither blamed nor abandoned."""
    went_dark = threading.Event()
    sampler = SubStreamSampler(
        1,
        lambda: silent_server,
        lambda _frame, _at: None,
        quality=lambda: QualityConfig(sample_interval_s=1),
        online=lambda: not went_dark.is_set(),
        budget_s=1.0,
    )
    caplog.set_level(logging.DEBUG, logger="agent.sampler")
    threading.Timer(0.3, went_dark.set).start()  # during the first session, which hangs
    sampler.start()
    try:
        wait_until(lambda: sampler.pictures >= 1, 10, "the session to end")
    finally:
        sampler.signal_stop()
        sampler.join()
    assert sampler.active and sampler.failures == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("lost with the camera" in r.getMessage() for r in caplog.records)
