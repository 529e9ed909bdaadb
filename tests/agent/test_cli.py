"""schoolcam-agent check-config: every problem with its path, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()

GOOD = """
box_id: box-0001
school: SCH-001
storage:
  path: {root}
cameras:
  - slot: 1
    name: Main gate, outside
    url: rtsp://10.0.0.11/Streaming/Channels/101
    username: viewer
    password_env: SCHOOLCAM_TEST_CAM_PASSWORD
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text.format(root=tmp_path / "store"))
    return path


def test_a_good_file_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHOOLCAM_TEST_CAM_PASSWORD", "s3cret-value")
    result = runner.invoke(app, ["check-config", "--config", str(_write(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "s3cret-value" not in result.output


def test_every_problem_is_listed_with_its_path(tmp_path: Path) -> None:
    bad = """
box_id: "Box With Spaces"
school: SCH-001
storage:
  path: /srv/x
  retention_days: 0
cameras:
  - slot: 1
    name: a
    url: rtsp://a
  - slot: 99
    name: b
    url: rtsp://b
    colour: red
"""
    result = runner.invoke(app, ["check-config", "--config", str(_write(tmp_path, bad))])
    assert result.exit_code == 2
    for where in ("box_id", "storage.retention_days", "cameras.1.slot", "cameras.1.colour"):
        assert f"  {where}:" in result.output, result.output


def test_a_missing_password_source_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCHOOLCAM_TEST_CAM_PASSWORD", raising=False)
    result = runner.invoke(app, ["check-config", "--config", str(_write(tmp_path, GOOD))])
    assert result.exit_code == 2
    assert (
        "cameras.0.password_env: environment variable SCHOOLCAM_TEST_CAM_PASSWORD" in result.output
    )


@pytest.mark.parametrize("text", ["", "- a list\n", "key: [unclosed\n"])
def test_unusable_files_exit_2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert "(file):" in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output
