"""Tests of the controller's jobs domain."""
