"""Devices: school boxes and their cameras, with each one's current state."""
