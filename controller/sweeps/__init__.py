"""Periodic checks that run once across replicas (offline boxes, long camera outages)."""
