"""Every shipped profile loads; URLs, firmware checks and errors behave."""

from __future__ import annotations

import pytest

from firmware_profiles import (
    FirmwareProfile,
    FirmwareVersion,
    FirmwareVersionError,
    ProfileError,
    UnknownProfileError,
    all_profiles,
    load_profile,
    parse_profile,
)

pytestmark = pytest.mark.timeout(30)


def test_every_shipped_profile_loads_and_covers_the_required_vendors() -> None:
    profiles = all_profiles()
    assert {"hikvision", "dahua", "uniview", "onvif"} <= set(profiles)
    for name, profile in profiles.items():
        assert isinstance(profile, FirmwareProfile)
        assert profile.id == name
        assert load_profile(name) is profile
        assert profile.encoding.main.width == 1920 and profile.encoding.main.height == 1080
        assert profile.encoding.sub.width == 640 and profile.encoding.sub.height == 360
        assert profile.onvif.supported


@pytest.mark.parametrize(
    ("name", "main", "sub"),
    [
        (
            "hikvision",
            "rtsp://10.1.2.3:554/Streaming/Channels/101",
            "rtsp://10.1.2.3:554/Streaming/Channels/102",
        ),
        (
            "dahua",
            "rtsp://10.1.2.3:554/cam/realmonitor?channel=1&subtype=0",
            "rtsp://10.1.2.3:554/cam/realmonitor?channel=1&subtype=1",
        ),
        (
            "uniview",
            "rtsp://10.1.2.3:554/unicast/c1/s0/live",
            "rtsp://10.1.2.3:554/unicast/c1/s1/live",
        ),
    ],
)
def test_stream_urls_follow_the_vendor_templates(name: str, main: str, sub: str) -> None:
    profile = load_profile(name)
    assert profile.stream_url("10.1.2.3") == main
    assert profile.stream_url("10.1.2.3", sub=True) == sub


def test_stream_url_takes_channel_port_and_ipv6_hosts() -> None:
    hikvision = load_profile("hikvision")
    assert (
        hikvision.stream_url("fd00::7", channel=3, sub=True, port=8554)
        == "rtsp://[fd00::7]:8554/Streaming/Channels/302"
    )
    with pytest.raises(ProfileError, match="channel"):
        hikvision.stream_url("10.1.2.3", channel=0)
    with pytest.raises(ProfileError, match="host"):
        hikvision.stream_url("admin:secret@10.1.2.3")


def test_the_generic_onvif_profile_has_no_template_and_says_where_to_look() -> None:
    with pytest.raises(ProfileError, match="GetStreamUri"):
        load_profile("onvif").stream_url("10.1.2.3")


def test_an_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError, match="known: dahua, hikvision, onvif, uniview"):
        load_profile("axis")


@pytest.mark.parametrize(
    ("text", "numbers", "build"),
    [
        ("V5.7.3 build 230301", (5, 7, 3), 230301),
        ("V5.5.800_210628", (5, 5, 800), 210628),
        ("V2.800.0000016.0.R, Build Date: 2021-07-14", (2, 800, 16), 20210714),
        ("5.5.0", (5, 5), None),
        ("QIPC-B2201.5.12.210803", (2201, 5, 12, 210803), None),
    ],
)
def test_vendor_version_formats_are_parsed(
    text: str, numbers: tuple[int, ...], build: int | None
) -> None:
    version = FirmwareVersion(text)
    assert (version.numbers, version.build) == (numbers, build)


def test_versions_compare_numerically_then_by_build() -> None:
    assert FirmwareVersion("V5.10.0") > FirmwareVersion("V5.9.9")
    assert FirmwareVersion("5.7") == FirmwareVersion("V5.7.0")
    assert FirmwareVersion("V5.7.3 build 230301") > FirmwareVersion("V5.7.3 build 220101")
    assert FirmwareVersion("V5.7.3 build 230301") > FirmwareVersion("V5.7.3")
    with pytest.raises(FirmwareVersionError, match="no version number"):
        FirmwareVersion("unknown")


def test_firmware_ok_against_the_minimum() -> None:
    hikvision = load_profile("hikvision")
    assert hikvision.firmware_ok("V5.7.3 build 230301")
    assert hikvision.firmware_ok("V5.5.800 build 210628")
    assert not hikvision.firmware_ok("V5.5.800 build 210301")
    assert not hikvision.firmware_ok("V5.4.5 build 170124")
    assert load_profile("onvif").firmware_ok("1.0")  # no minimum set
    with pytest.raises(FirmwareVersionError):
        hikvision.firmware_ok("")


def test_known_vulnerable_firmware_is_recognised_with_its_note() -> None:
    hikvision = load_profile("hikvision")
    old = "V5.4.0 build 160530"
    assert hikvision.is_vulnerable(old)
    assert [v.id for v in hikvision.vulnerabilities(old)] == ["CVE-2017-7921", "CVE-2021-36260"]
    assert [v.id for v in hikvision.vulnerabilities("V5.5.0 build 180101")] == ["CVE-2021-36260"]
    assert not hikvision.is_vulnerable("V5.7.3 build 230301")
    assert load_profile("dahua").is_vulnerable("V2.800.0000008.0.R, Build Date: 2020-03-05")
    assert all(v.note for p in all_profiles().values() for v in p.vulnerable)


VALID = """
id: test
vendor: Test
streams: {main: "rtsp://{host}:{port}/a", sub: "rtsp://{host}:{port}/b"}
onvif: {supported: true}
ptz: false
encoding:
  main: {width: 1920, height: 1080, fps: 25, gop_min: 25, gop_max: 50, bitrate_kbps: 4096}
  sub: {width: 640, height: 360, fps: 25, gop_min: 25, gop_max: 50, bitrate_kbps: 512}
"""


def test_a_valid_profile_text_parses() -> None:
    profile = parse_profile(VALID, source="test.yaml", expected_id="test")
    assert profile.rtsp_port == 554 and profile.encoding.main.codec == "h264"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("ptz: false", "ptz: false\ncolour: red"), "Extra inputs are not permitted"),
        (("/a", "/{user}"), "unknown placeholders"),
        (("rtsp://{host}:{port}/b", "http://{host}/b"), "starts with rtsp://"),
        (
            (
                "gop_min: 25, gop_max: 50, bitrate_kbps: 512",
                "gop_min: 60, gop_max: 50, bitrate_kbps: 512",
            ),
            "gop_min",
        ),
        (("ptz: false", "ptz: false\nmin_firmware: latest"), "no version number"),
        (("supported: true}\nptz: false", "supported: false}\nptz: true"), "ptz needs ONVIF"),
        (("vendor: Test", "vendor: [unclosed"), "not valid YAML"),
    ],
)
def test_a_broken_profile_gets_a_clear_error(change: tuple[str, str], message: str) -> None:
    text = VALID.replace(*change)
    with pytest.raises(ProfileError, match=message):
        parse_profile(text, source="broken.yaml")


def test_a_profile_whose_id_differs_from_its_file_name_is_refused() -> None:
    with pytest.raises(ProfileError, match="differs from its file name"):
        parse_profile(VALID, source="other.yaml", expected_id="other")
