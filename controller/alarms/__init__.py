"""Alarms: one active alarm per (source, type), raised from events and derived rules."""
