"""The generated docs and schemas must match the models, and topics live only in protocol/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from protocol.docs import json_schemas, render_markdown

REPO = Path(__file__).resolve().parents[2]


def test_protocol_page_matches_the_models() -> None:
    committed = (REPO / "docs" / "protocol.md").read_text()
    assert committed == render_markdown(), "docs/protocol.md is stale: run `make schema`"


def test_json_schemas_match_the_models() -> None:
    for kind, schema in json_schemas().items():
        path = REPO / "docs" / "schema" / f"{kind.value}.schema.json"
        assert json.loads(path.read_text()) == schema, f"{path} is stale: run `make schema`"


def test_schema_command_writes_every_kind(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "protocol", "schema", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    written = sorted(p.name for p in tmp_path.iterdir())
    assert len(written) == len(json_schemas())
    assert "birth.schema.json" in result.stdout


def test_no_topic_strings_outside_protocol() -> None:
    """Every topic is built by protocol/; a literal topic elsewhere is a second source of truth."""
    pattern = re.compile(r"schoolcam/v1")
    offenders = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in {"protocol", ".venv", "docs", "build"} or rel.parts[:2] == (
            "tests",
            "protocol",
        ):
            continue
        if pattern.search(path.read_text(errors="ignore")):
            offenders.append(str(rel))
    assert not offenders, f"topic strings outside protocol/: {offenders}"
