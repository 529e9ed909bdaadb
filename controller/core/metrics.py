"""Prometheus metrics of the controller, defined once per process."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCH_LATENCY",
    "BOXES_ONLINE",
    "DB_LATENCY",
    "INGEST_MESSAGES",
    "INGEST_REJECTS",
    "record_reject",
]

log = logging.getLogger(__name__)

INGEST_MESSAGES = Counter(
    "schoolcam_ingest_messages_total", "Messages accepted by ingest, by kind.", ["kind"]
)
INGEST_REJECTS = Counter(
    "schoolcam_ingest_rejects_total", "Messages ingest refused or dropped, by reason.", ["reason"]
)
BATCH_LATENCY = Histogram(
    "schoolcam_ingest_batch_seconds",
    "Time to write one ingest batch.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DB_LATENCY = Histogram(
    "schoolcam_db_statement_seconds",
    "Duration of one database statement.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
BOXES_ONLINE = Gauge("schoolcam_boxes_online", "Boxes currently online.")


QUIET_REJECTS = frozenset({"duplicate"})
"""Reasons logged at DEBUG only; every reject is still counted by reason."""


def record_reject(reason: str, *, box_id: str | None, detail: str) -> None:
    """Count and log one refused message; nothing is dropped without a trace."""
    INGEST_REJECTS.labels(reason=reason).inc()
    # QoS 1 is at-least-once: re-sent duplicates are expected traffic, counted but not shouted.
    level = logging.DEBUG if reason in QUIET_REJECTS else logging.WARNING
    log.log(
        level,
        "ingest rejected message",
        extra={"reason": reason, "box_id": box_id, "detail": detail},
    )
