"""System metrics for telemetry, via psutil: CPU, memory, disks per mount, temperatures."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from protocol import DiskUsage

__all__ = ["SystemMetrics", "SystemSample"]

log = logging.getLogger(__name__)

_PSEUDO_FS = frozenset(
    {"tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "devpts"}
)
MAX_DISKS = 32
MAX_SENSORS = 64


@dataclass(frozen=True)
class SystemSample:
    """The box's own health; the fields of `protocol.Telemetry` the system can tell."""

    uptime_s: float
    cpu_percent: float
    memory_percent: float
    memory_used_bytes: int
    load_1m: float | None
    disks: list[DiskUsage] = field(default_factory=list)
    temperatures_c: dict[str, float] = field(default_factory=dict)

    def telemetry_fields(self) -> dict[str, Any]:
        """Keyword arguments for `protocol.Telemetry` (the link adds envelope and link fields)."""
        return {
            "uptime_s": self.uptime_s,
            "cpu_percent": self.cpu_percent,
            "memory_percent": self.memory_percent,
            "memory_used_bytes": self.memory_used_bytes,
            "load_1m": self.load_1m,
            "disks": self.disks,
            "temperatures_c": self.temperatures_c,
        }


class SystemMetrics:
    """Samples the system; CPU percent is measured between two calls (first call: since boot)."""

    def __init__(self, storage_path: Path | None = None) -> None:
        self._storage_path = storage_path
        self._started = time.monotonic()
        psutil.cpu_percent(None)

    def sample(self) -> SystemSample:
        memory = psutil.virtual_memory()
        try:
            load: float | None = os.getloadavg()[0]
        except OSError:
            load = None
        return SystemSample(
            uptime_s=round(time.monotonic() - self._started, 1),
            cpu_percent=min(100.0, max(0.0, psutil.cpu_percent(None))),
            memory_percent=min(100.0, float(memory.percent)),
            memory_used_bytes=int(memory.total - memory.available),
            load_1m=load,
            disks=self.disks(),
            temperatures_c=self.temperatures(),
        )

    def disks(self) -> list[DiskUsage]:
        """Each real mounted filesystem once, and always the one holding the recordings."""
        mounts: dict[str, str] = {}
        try:
            for part in psutil.disk_partitions(all=False):
                if part.fstype in _PSEUDO_FS or part.device in mounts.values():
                    continue
                mounts[part.mountpoint] = part.device
        except OSError as exc:
            log.warning("cannot list mounts: %s", exc)
        paths = list(mounts)
        if self._storage_path is not None and self._storage_path.exists():
            paths.insert(0, str(self._storage_path))
        result: list[DiskUsage] = []
        seen: set[int] = set()
        for path in paths:
            try:
                device = os.stat(path).st_dev
                if device in seen:
                    continue
                usage = psutil.disk_usage(path)
            except OSError:
                continue
            seen.add(device)
            free = 100.0 * usage.free / usage.total if usage.total else 0.0
            result.append(
                DiskUsage(
                    mount=path[:256],
                    total_bytes=usage.total,
                    used_bytes=usage.used,
                    free_percent=round(free, 2),
                )
            )
        return result[:MAX_DISKS]

    def temperatures(self) -> dict[str, float]:
        """Sensor readings where the platform has them (empty in most VMs)."""
        reader = getattr(psutil, "sensors_temperatures", None)
        if reader is None:
            return {}
        try:
            sensors = reader()
        except (OSError, RuntimeError):
            return {}
        result: dict[str, float] = {}
        for chip, entries in sensors.items():
            for number, entry in enumerate(entries):
                label = entry.label or str(number)
                result[f"{chip}/{label}"[:64]] = float(entry.current)
        return dict(list(result.items())[:MAX_SENSORS])
