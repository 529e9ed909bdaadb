"""The fault model: what breaks in a simulated fleet, how often, and how it mends.

Faults arrive per box as a Poisson process at `fault_rate` per hour. Each one is raised and,
after a duration around `fault_duration_s`, cleared, so alarms can be watched arriving and
clearing: a camera goes dark (and leaves a recording gap), a picture fault (blur, cover,
signal loss...), disk pressure, or the whole box loses its uplink (its will fires).
"""

from __future__ import annotations

import logging
import random
from datetime import datetime

from protocol import (
    CameraConnectivityEvent,
    CameraState,
    DiskPressureEvent,
    QualityFault,
    QualityFaultEvent,
    RecordingGapEvent,
    utc_now,
)
from simulator.fleet.box import SimulatedBox

__all__ = ["FAULT_WEIGHTS", "FaultModel"]

log = logging.getLogger(__name__)

FAULT_WEIGHTS: dict[str, float] = {
    "camera_offline": 0.35,
    "quality": 0.35,
    "disk_pressure": 0.1,
    "uplink_loss": 0.2,
}

_QUALITY = (
    (QualityFault.BLUR, 0.12, 0.25),
    (QualityFault.OCCLUSION, 0.03, 0.08),
    (QualityFault.SIGNAL_LOSS, 8.0, 20.0),
    (QualityFault.FROZEN, 0.1, 0.5),
    (QualityFault.BRIGHTNESS, 18.0, 35.0),
)
_OFFLINE_REASONS = ("no packets for 10 s", "connection refused", "RTSP 401", "host unreachable")
_DISK_THRESHOLD = 10.0


class FaultModel:
    """Draws and applies faults; `next_delay` is the wait until a box's next one."""

    def __init__(self, rate_per_hour: float, mean_duration_s: float) -> None:
        self.rate_per_hour = rate_per_hour
        self.mean_duration_s = mean_duration_s

    def next_delay(self, rng: random.Random) -> float:
        """Seconds until the next fault on a box (exponential; infinite at rate 0)."""
        if self.rate_per_hour <= 0:
            return float("inf")
        return rng.expovariate(self.rate_per_hour / 3600.0)

    def inject(self, box: SimulatedBox) -> None:
        """Raise one fault on `box` and schedule its clearing."""
        rng = box.rng
        kind = rng.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]
        duration = self.mean_duration_s * rng.uniform(0.5, 1.5)
        if kind == "uplink_loss":
            log.info("%s: uplink lost for %.0f s", box.box_id, duration)
            box.lose_uplink(duration)
        elif kind == "disk_pressure":
            self._disk_pressure(box, duration)
        else:
            healthy = [
                slot
                for slot, camera in box.cameras.items()
                if camera.state is CameraState.ONLINE and not camera.faults
            ]
            if not healthy:
                return
            slot = rng.choice(healthy)
            if kind == "camera_offline":
                self._camera_offline(box, slot, duration)
            else:
                self._quality(box, slot, duration)

    @staticmethod
    def _camera_offline(box: SimulatedBox, slot: int, duration: float) -> None:
        camera = box.cameras[slot]
        reason = box.rng.choice(_OFFLINE_REASONS)
        went_down = utc_now()
        camera.state, camera.since, camera.error = CameraState.OFFLINE, went_down, reason
        if camera.recording_day is not None:
            camera.recording_day.went_down(went_down)
        box.emit(CameraConnectivityEvent(type="camera_offline", slot=slot, reason=reason))
        box.publish_status(slot)

        def recover() -> None:
            _camera_back(box, slot, went_down)

        box.schedule(duration, recover)

    @staticmethod
    def _quality(box: SimulatedBox, slot: int, duration: float) -> None:
        fault, value, threshold = box.rng.choice(_QUALITY)
        camera = box.cameras[slot]
        camera.faults = [fault]
        box.emit(
            QualityFaultEvent(
                slot=slot, fault=fault, state="raised", value=value, threshold=threshold
            )
        )
        box.publish_status(slot)

        def clear() -> None:
            if fault in camera.faults:
                camera.faults = [f for f in camera.faults if f is not fault]
                box.emit(QualityFaultEvent(slot=slot, fault=fault, state="cleared"))
                box.publish_status(slot)

        box.schedule(duration, clear)

    @staticmethod
    def _disk_pressure(box: SimulatedBox, duration: float) -> None:
        if box.disk_free_percent < _DISK_THRESHOLD:
            return
        normal = box.disk_free_percent
        box.disk_free_percent = round(box.rng.uniform(4, 9), 1)
        box.emit(
            DiskPressureEvent(
                path="/var/lib/schoolcam",
                free_percent=box.disk_free_percent,
                threshold_percent=_DISK_THRESHOLD,
                state="raised",
            )
        )
        box.publish_telemetry()

        def clear() -> None:
            box.disk_free_percent = normal
            box.emit(
                DiskPressureEvent(
                    path="/var/lib/schoolcam",
                    free_percent=normal,
                    threshold_percent=_DISK_THRESHOLD,
                    state="cleared",
                )
            )

        box.schedule(duration, clear)


def _camera_back(box: SimulatedBox, slot: int, went_down: datetime) -> None:
    camera = box.cameras[slot]
    back = utc_now()
    camera.state, camera.since, camera.error = CameraState.ONLINE, back, None
    if camera.recording_day is not None:
        camera.recording_day.came_up(back)
    box.emit(CameraConnectivityEvent(type="camera_online", slot=slot))
    box.emit(RecordingGapEvent(slot=slot, start=went_down, end=back, reason="camera offline"))
    box.publish_status(slot)
