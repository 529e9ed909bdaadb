"""Imports every table so SQLModel's metadata is complete (for Alembic and tests)."""

from controller.alarms.models import Alarm
from controller.auth.models import AccessToken, User
from controller.config.models import BoxConfigRecord, ConfigDefault
from controller.devices.models import Box, Camera
from controller.fleet.models import BoxEvent, StatusTransition
from controller.jobs.models import ClipJob
from controller.media.models import Snapshot
from controller.schools.models import School, Slot
from controller.sweeps.models import Lease

__all__ = [
    "AccessToken",
    "Alarm",
    "Box",
    "BoxConfigRecord",
    "BoxEvent",
    "Camera",
    "ClipJob",
    "ConfigDefault",
    "Lease",
    "School",
    "Slot",
    "Snapshot",
    "StatusTransition",
    "User",
]
