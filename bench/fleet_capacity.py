"""How many simulated boxes one process on this machine carries: connect time, CPU, memory.

Starts a throwaway Mosquitto, runs the fleet simulator in this process with the default
reporting intervals (telemetry 30 s, status heartbeat 60 s, 0.5 faults per box per hour),
waits until every box is connected, then measures a steady window. Prints one JSON line.
`--short` (500 boxes, about 20 s) is what CI runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import psutil

from simulator.fleet import FleetSettings, FleetSimulator, raise_fd_limit
from tests.harness.mosquitto import MosquittoBroker

FD_HEADROOM = 512


class CapacityBroker(MosquittoBroker):
    """The test harness's Mosquitto with no connection cap, for ten thousand boxes."""

    def _write_config(self) -> None:
        super()._write_config()
        with self.conf_file.open("a") as conf:
            conf.write("max_connections -1\nlog_type none\n")


def measure(schools: int, steady_s: float, ramp_per_s: float) -> dict[str, float | int]:
    """Run the fleet against a fresh broker and return the figures."""
    raise_fd_limit(schools + FD_HEADROOM)  # Mosquitto, our child, inherits the raised limit
    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="fleet-capacity-") as workdir:
        broker = CapacityBroker(Path(workdir) / "broker")
        broker.start()
        try:
            broker_process = next(p for p in me.children() if p.name().startswith("mosquitto"))
            fleet = FleetSimulator(
                FleetSettings(schools=schools, broker_url=broker.url, ramp_per_s=ramp_per_s)
            )
            started = time.monotonic()
            fleet.start()
            try:
                if not fleet.wait_connected(timeout=schools / ramp_per_s + 120):
                    raise RuntimeError(
                        f"only {fleet.stats.connected}/{schools} boxes connected "
                        f"({fleet.stats.connect_failures} connect failures)"
                    )
                connect_s = time.monotonic() - started
                time.sleep(min(5.0, steady_s / 4))  # let the initial burst drain
                cpu0, bcpu0 = _cpu(me), _cpu(broker_process)
                published0, t0 = fleet.stats.published, time.monotonic()
                time.sleep(steady_s)
                elapsed = time.monotonic() - t0
                figures: dict[str, float | int] = {
                    "boxes": schools,
                    "connected": fleet.stats.connected,
                    "connect_s": round(connect_s, 1),
                    "cpu_percent_steady": round(100 * (_cpu(me) - cpu0) / elapsed, 1),
                    "broker_cpu_percent_steady": round(
                        100 * (_cpu(broker_process) - bcpu0) / elapsed, 1
                    ),
                    "rss_mb": round(me.memory_info().rss / 2**20, 1),
                    "msgs_per_s": round((fleet.stats.published - published0) / elapsed, 1),
                    "steady_s": round(elapsed, 1),
                    "errors": fleet.stats.errors,
                }
            finally:
                fleet.stop()
        finally:
            broker.stop()
    return figures


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="500 boxes, about 20 s (for CI)")
    parser.add_argument("--schools", type=int, default=None, help="override the box count")
    parser.add_argument("--steady", type=float, default=None, help="seconds of steady window")
    parser.add_argument("--ramp", type=float, default=500.0, help="new connections per second")
    parser.add_argument(
        "--record", action="store_true", help="also write the figures into docs/performance.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    schools = args.schools or (500 if args.short else 10_000)
    steady = args.steady or (15.0 if args.short else 60.0)
    figures = measure(schools, steady, args.ramp)
    print(json.dumps(figures, sort_keys=True), flush=True)
    if args.record:
        try:
            from bench.report import record

            record(
                "fleet_capacity",
                dict(figures),
                title="Fleet simulator capacity",
                note="telemetry 30 s, status heartbeat 60 s, 0.5 faults/box/h; one process",
            )
        except ImportError:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
