"""Benchmarks print one JSON line and record it in docs/performance.md with date and machine.

Each benchmark owns one section of the page, between `<!-- bench:NAME -->` markers, which
`record` rewrites in place; the prose around the sections is left alone.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

__all__ = ["PERFORMANCE_PAGE", "emit", "machine", "record"]

PERFORMANCE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def machine() -> str:
    """One line naming the machine the figures came from."""
    cpu = platform.processor() or platform.machine()
    memory_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def emit(figures: dict[str, Any]) -> None:
    """Print the benchmark's one JSON line on stdout."""
    print(json.dumps(figures, sort_keys=True), flush=True)


def record(name: str, figures: dict[str, Any], *, title: str, note: str = "") -> None:
    """Write `figures` into the benchmark's section of docs/performance.md."""
    command = "python -m bench." + name + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    rows = "\n".join(f"| `{key}` | {value} |" for key, value in sorted(figures.items()))
    section = (
        f"<!-- bench:{name} -->\n"
        f"### {title}\n\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {machine()}\n"
        f"- command: `{command}`\n"
        + (f"- note: {note}\n" if note else "")
        + f"\n| figure | value |\n| --- | --- |\n{rows}\n"
        f"<!-- /bench:{name} -->"
    )
    page = PERFORMANCE_PAGE.read_text() if PERFORMANCE_PAGE.exists() else "# Performance\n"
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S
    )
    if pattern.search(page):
        page = pattern.sub(lambda _m: section, page)
    else:
        page = page.rstrip() + "\n\n" + section + "\n"
    PERFORMANCE_PAGE.parent.mkdir(parents=True, exist_ok=True)
    PERFORMANCE_PAGE.write_text(page)
