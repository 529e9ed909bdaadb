"""The one place that collects every domain's router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from controller.alarms.api import router as alarms_router
from controller.auth.api import router as auth_router
from controller.commands.api import router as commands_router
from controller.config.api import router as config_router
from controller.devices.api import router as devices_router
from controller.fleet.api import router as fleet_router
from controller.jobs.api import router as jobs_router
from controller.media.api import router as media_router
from controller.schools.api import router as schools_router

__all__ = ["api_router"]

api_router = APIRouter(prefix="/api/v1")
for _router in (
    auth_router,
    schools_router,
    devices_router,
    fleet_router,
    alarms_router,
    config_router,
    commands_router,
    jobs_router,
    media_router,
):
    api_router.include_router(_router)
