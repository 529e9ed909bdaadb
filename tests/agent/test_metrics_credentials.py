"""System metrics fit the telemetry message; camera passwords are resolved, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.credentials import CredentialError, stream_url
from agent.metrics import SystemMetrics
from protocol import CameraConfig, Telemetry, redact_url


def test_sample_fills_telemetry(tmp_path: Path) -> None:
    sample = SystemMetrics(tmp_path).sample()
    message = Telemetry(box_id="box-0001", boot_id="b1", seq=1, **sample.telemetry_fields())
    assert 0 <= message.cpu_percent <= 100 and message.memory_used_bytes > 0
    assert message.disks and message.disks[0].mount == str(tmp_path)
    assert all(isinstance(v, float) for v in message.temperatures_c.values())


def test_password_from_file_and_env_goes_into_the_url_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "cam.pw"
    secret.write_text("p@ss:word/1\n")
    camera = CameraConfig(slot=1, name="gate", url="rtsp://10.0.0.9:554/ch1", username="admin",
                          password_ref=f"file:{secret}")  # fmt: skip
    url = stream_url(camera)
    assert url == "rtsp://admin:p%40ss%3Aword%2F1@10.0.0.9:554/ch1"
    assert "p%40ss" not in redact_url(url)
    monkeypatch.setenv("SCHOOLCAM_TEST_PW", "x")
    env_camera = camera.model_copy(update={"password_ref": "env:SCHOOLCAM_TEST_PW"})
    assert stream_url(env_camera) == "rtsp://admin:x@10.0.0.9:554/ch1"
    missing = camera.model_copy(update={"password_ref": "env:SCHOOLCAM_TEST_ABSENT"})
    with pytest.raises(CredentialError, match="SCHOOLCAM_TEST_ABSENT is not set"):
        stream_url(missing)
