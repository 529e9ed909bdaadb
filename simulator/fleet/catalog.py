"""What a simulated school has: 16 cameras on the key areas, from the vendors districts buy.

Everything here is drawn from a seeded `random.Random`, so a box looks the same on every run
with the same seed: same names, vendors, firmware and stream profiles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from protocol import CameraCapabilities, CameraInventory, StreamStats

__all__ = ["CAMERAS_PER_BOX", "KEY_AREAS", "SlotPlan", "plan_cameras"]

CAMERAS_PER_BOX = 16

KEY_AREAS: tuple[str, ...] = (
    "Main gate, outside",
    "Main gate, inside",
    "Gatehouse",
    "Perimeter wall, east",
    "Perimeter wall, west",
    "Teaching building entrance",
    "Dormitory entrance",
    "Corridor, ground floor",
    "Stairwell, north",
    "Playground",
    "Sports field",
    "Canteen kitchen",
    "Dining hall",
    "Finance room",
    "Monitoring room",
    "Car park and delivery gate",
)


@dataclass(frozen=True)
class _Model:
    profile: str
    vendor: str
    model: str
    firmware: tuple[str, ...]  # builds the profile accepts
    old_firmware: str | None = None  # a build the profile calls outdated and vulnerable
    ptz: bool = False


OLD_FIRMWARE_SHARE = 0.08
"""Share of cameras of a model with an old build still on it: a few per school, as a district
that updates on repair visits has, not a third of the fleet."""

_MODELS: tuple[_Model, ...] = (
    _Model("hikvision", "Hikvision", "DS-2CD2143G2-I", ("V5.7.3", "V5.7.11"), "V5.5.82"),
    _Model("hikvision", "Hikvision", "DS-2DE4425IW-DE", ("V5.6.15", "V5.7.3"), ptz=True),
    _Model("dahua", "Dahua", "IPC-HFW2431S-S-S2", ("V2.820.0000000.6.R",), "V2.800.0000000.31.R"),
    _Model(
        "dahua",
        "Dahua",
        "SD49425XB-HNR",
        ("V2.840.0000000.8.R",),
        "V2.623.0000000.4.R",
        ptz=True,
    ),
    _Model("uniview", "Uniview", "IPC2124LB-SF28KM-G", ("IPC_6201.11.0", "IPC_G6103-B5015")),
)


def _firmware(model: _Model, rng: random.Random) -> str:
    if model.old_firmware is not None and rng.random() < OLD_FIRMWARE_SHARE:
        return model.old_firmware
    return rng.choice(model.firmware)


@dataclass(frozen=True)
class SlotPlan:
    """One camera of a simulated box: its inventory line and the stream it delivers."""

    inventory: CameraInventory
    stream: StreamStats
    broken: bool  # offline from the start (a camera that was never repaired)


def _stream(rng: random.Random) -> StreamStats:
    roll = rng.random()
    if roll < 0.75:
        width, height, codec, fps, kbps = 1920, 1080, "h264", 25.0, 4096.0
    elif roll < 0.87:
        width, height, codec, fps, kbps = 1280, 720, "h264", 25.0, 2048.0
    elif roll < 0.92:
        width, height, codec, fps, kbps = 640, 360, "h264", 15.0, 512.0
    else:
        width, height, codec, fps, kbps = 1920, 1080, "hevc", 25.0, 2048.0
    return StreamStats(
        codec=codec,
        width=width,
        height=height,
        fps=fps,
        bitrate_kbps=round(kbps * rng.uniform(0.85, 1.1), 1),
        gop=fps * 2 if rng.random() < 0.3 else fps,
        hd=width >= 1280 and height >= 720,
        browser_playable=codec == "h264",
    )


def plan_cameras(rng: random.Random) -> list[SlotPlan]:
    """The 16 cameras of one school box."""
    plans = []
    for slot, name in enumerate(KEY_AREAS, start=1):
        model = rng.choice(_MODELS)
        inventory = CameraInventory(
            slot=slot,
            name=name,
            profile=model.profile,
            vendor=model.vendor,
            model=model.model,
            firmware=_firmware(model, rng),
            capabilities=CameraCapabilities(ptz=model.ptz, onvif=True, substream=True),
        )
        plans.append(SlotPlan(inventory, _stream(rng), broken=rng.random() < 0.02))
    return plans
