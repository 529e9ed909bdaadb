"""A profile with URL templates derives a camera's sub stream from its main stream URL."""

from __future__ import annotations

import pytest

from firmware_profiles import load_profile

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("profile", "main", "sub"),
    [
        (
            "hikvision",
            "rtsp://10.20.0.11:554/Streaming/Channels/101",
            "rtsp://10.20.0.11:554/Streaming/Channels/102",
        ),
        (
            "hikvision",  # channel 12 of an NVR, no port, a login kept as written
            "rtsp://viewer:p%40ss@10.20.0.11/Streaming/Channels/1201",
            "rtsp://viewer:p%40ss@10.20.0.11/Streaming/Channels/1202",
        ),
        (
            "dahua",
            "rtsp://10.20.0.12:554/cam/realmonitor?channel=3&subtype=0",
            "rtsp://10.20.0.12:554/cam/realmonitor?channel=3&subtype=1",
        ),
        (
            "uniview",
            "rtsp://[fd00::7]:8554/unicast/c2/s0/live",
            "rtsp://[fd00::7]:8554/unicast/c2/s1/live",
        ),
    ],
)
def test_the_sub_stream_is_the_same_channel_on_the_sub_template(
    profile: str, main: str, sub: str
) -> None:
    assert load_profile(profile).sub_url_for(main) == sub


@pytest.mark.parametrize(
    ("profile", "main"),
    [
        ("hikvision", "rtsp://10.20.0.11/Streaming/Channels/102"),  # already a sub stream
        ("hikvision", "rtsp://10.20.0.11/h264/ch1/main/av_stream"),  # another URL form
        ("dahua", "rtsp://10.20.0.12/cam/realmonitor?channel=1&subtype=0&unicast=true"),
        ("onvif", "rtsp://10.20.0.13/profile1"),  # no templates: ask the camera (ONVIF)
    ],
)
def test_a_url_not_in_the_profile_form_gives_no_sub_stream(profile: str, main: str) -> None:
    assert load_profile(profile).sub_url_for(main) is None
