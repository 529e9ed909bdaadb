"""What a failed camera read says: FFmpeg's words, never the camera's login."""

from __future__ import annotations

import av.error

from agent.source import ffmpeg_reason

URL = "rtsp://viewer:R1ght-Secret-4409@10.1.2.3:554/Streaming/Channels/102"


def test_a_read_error_keeps_ffmpegs_words_and_drops_the_url_with_its_password() -> None:
    error = av.error.InvalidDataError(-1094995529, "Invalid data found when processing input", URL)
    assert "R1ght-Secret-4409" in str(error)  # what PyAV's own text would have leaked
    reason = ffmpeg_reason(error, URL, waited_s=7)
    assert reason == "Invalid data found when processing input"


def test_our_own_timeout_says_how_long_it_waited() -> None:
    error = av.error.ExitError(-1414092869, "Immediate exit requested", URL)
    assert ffmpeg_reason(error, URL, waited_s=2.5) == "no answer within 2.5 s"


def test_words_that_name_the_url_name_it_redacted() -> None:
    error = av.error.HTTPUnauthorizedError(-825242872, f"401 Unauthorized for {URL}", URL)
    reason = ffmpeg_reason(error, URL, waited_s=10)
    assert "R1ght-Secret-4409" not in reason and "401 Unauthorized" in reason
    assert "10.1.2.3:554/Streaming/Channels/102" in reason
