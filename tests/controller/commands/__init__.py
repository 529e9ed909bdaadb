"""Tests of the controller's commands domain."""
