"""Benchmarks: each prints one JSON line and records its figures in docs/performance.md."""
