"""The command line: migrate, add users, issue tokens; bad settings give a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from controller.app import create_app
from controller.cli import app
from controller.core.settings import Settings

runner = CliRunner()


def test_migrate_user_add_token_create(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCHOOLCAM_DATABASE_URL", url)
    monkeypatch.setenv("SCHOOLCAM_SECRET_KEY", "cli-secret-key-123")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    added = runner.invoke(
        app, ["user", "add", "chief", "--role", "ops", "--password", "chief-password"]
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(
        app, ["user", "add", "chief", "--role", "ops", "--password", "chief-password"]
    )
    assert again.exit_code == 1 and "exists" in again.output
    no_school = runner.invoke(
        app,
        ["user", "add", "lead", "--role", "school", "--school", "nope", "--password", "pw123456"],
    )
    assert no_school.exit_code == 1 and "no school" in no_school.output
    issued = runner.invoke(app, ["token", "create", "chief", "--name", "ci"])
    assert issued.exit_code == 0
    token = issued.output.strip().splitlines()[-1]
    api = TestClient(create_app(Settings()))
    me = api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "chief"


def test_default_secret_stops_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHOOLCAM_SECRET_KEY", raising=False)
    monkeypatch.delenv("SCHOOLCAM_ENV", raising=False)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 2 and "SCHOOLCAM_SECRET_KEY" in result.output
