"""Tests of the controller's media domain."""
