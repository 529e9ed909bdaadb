"""Settings: environment over file, and the default secret refused outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.core.settings import Settings


def test_default_secret_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHOOLCAM_SECRET_KEY", raising=False)
    monkeypatch.delenv("SCHOOLCAM_ENV", raising=False)
    with pytest.raises(ValidationError, match="SCHOOLCAM_SECRET_KEY is the default"):
        Settings()
    monkeypatch.setenv("SCHOOLCAM_ENV", "development")
    assert Settings().env == "development"


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "controller.yaml"
    file.write_text(
        "secret_key: from-the-file-123\n"
        "broker_url: mqtt://broker.example:1883\n"
        "recording_gap_alarm_s: 90\n"
    )
    monkeypatch.setenv("SCHOOLCAM_SETTINGS_FILE", str(file))
    monkeypatch.setenv("SCHOOLCAM_BROKER_URL", "mqtt://127.0.0.1:1884")
    settings = Settings()
    assert settings.secret_key == "from-the-file-123"
    assert settings.broker_url == "mqtt://127.0.0.1:1884"
    assert settings.recording_gap_alarm_s == 90
    file.write_text("secret_key: from-the-file-123\nno_such_setting: 1\n")
    with pytest.raises(ValidationError, match="no_such_setting"):
        Settings()
