"""`make bench`: run every benchmark in turn; `--short` is the mode CI can afford.

CI fails on a crash (a benchmark exiting non-zero or printing no JSON line), never on a slow
machine: the targets are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = [
    "bench.quality_cost",
    "bench.agent_recording",
    "bench.fleet_capacity",
    "bench.ingest",
    "bench.ingest_writer",
    "bench.api_latency",
    "bench.detection_latency",
]


def main(argv: list[str] | None = None) -> int:
    """Run each benchmark module as its own process; report and count failures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="the quick mode CI runs")
    parser.add_argument("only", nargs="*", help="benchmark module names to run (default: all)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    failures = 0
    for module in args.only or BENCHMARKS:
        if not (root / (module.replace(".", "/") + ".py")).exists():
            print(f"{module}: not present, skipped", flush=True)
            continue
        command = [sys.executable, "-m", module] + (["--short"] if args.short else [])
        started = time.monotonic()
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
        took = time.monotonic() - started
        lines = [ln for ln in result.stdout.splitlines() if ln.startswith("{")]
        try:
            figures = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            figures = None
        if result.returncode != 0 or figures is None:
            failures += 1
            print(f"{module}: FAILED (exit {result.returncode}, {took:.0f} s)", flush=True)
            print(result.stderr[-4000:], file=sys.stderr, flush=True)
        else:
            print(f"{module}: {json.dumps(figures, sort_keys=True)} ({took:.0f} s)", flush=True)
    print(f"bench: {failures} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
