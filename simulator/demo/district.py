"""A believable district drawn from a seed: schools of each type, their vendors, map positions.

Pure data, no database: `plan_district(count)` gives the same district for the same seed, so
the seeding step, the fleet simulator (whose box N belongs to school N) and the docs agree.
Codes are `{prefix}-{NNNN}` and box ids `{prefix}-{NNNN}-a`, as the fleet simulator names them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = [
    "DISTRICT",
    "VENDORS",
    "PlannedSchool",
    "Vendor",
    "box_id_for",
    "plan_district",
    "school_code",
]

DISTRICT = "jinhe"
DISTRICT_NAME = "Jinhe District"
CENTRE = (30.5928, 114.3055)  # latitude, longitude of the district's education bureau
RADIUS_KM = 7.0
KM_PER_DEGREE = 111.0


@dataclass(frozen=True)
class Vendor:
    """A maintenance vendor; it serves the schools in one sector of the district."""

    code: str
    name: str


VENDORS: tuple[Vendor, ...] = (
    Vendor("hengan", "Hengan Security Engineering Co., Ltd."),
    Vendor("tianyu", "Tianyu Smart Video Technology Co., Ltd."),
    Vendor("huacheng", "Huacheng Network Systems Co., Ltd."),
)

_PLACES = (
    "Jinhe",
    "Qingshan",
    "Heping",
    "Xingfu",
    "Changqing",
    "Huayuan",
    "Baihe",
    "Dongting",
    "Fenghuang",
    "Guanshan",
    "Hongqiao",
    "Jiangtan",
    "Liyuan",
    "Minzhu",
    "Nanhu",
    "Shuiguohu",
    "Taohua",
    "Wutong",
    "Xinhua",
    "Yangguang",
    "Zhongbei",
    "Sanyang",
    "Yuehu",
    "Baofeng",
    "Tangjiadun",
    "Zhuodaoquan",
    "Luoyu",
    "Hualou",
    "Qiaokou",
    "Gutian",
)
_ROADS = ("Road", "Street", "Avenue", "Lane")
_KINDERGARTEN_NAMES = (
    "Sunflower",
    "Little Swallow",
    "Rainbow",
    "Bamboo Shoot",
    "Golden Key",
    "Morning Star",
    "Spring Bud",
    "Little Dolphin",
    "Dandelion",
    "Happy Tree",
)


@dataclass(frozen=True)
class PlannedSchool:
    """One school of the district as the seed draws it."""

    index: int
    code: str
    name: str
    type: str  # primary, middle or kindergarten (the controller's SchoolType values)
    migrant: bool  # a school for migrant workers' children
    address: str
    latitude: float
    longitude: float
    vendor: str

    @property
    def box_id(self) -> str:
        return box_id_for(self.code)


def school_code(prefix: str, index: int) -> str:
    return f"{prefix}-{index:04d}"


def box_id_for(code: str) -> str:
    """The one box of a school, named as the fleet simulator names it."""
    return f"{code}-a"


def _kind(rng: random.Random) -> tuple[str, bool]:
    roll = rng.random()
    if roll < 0.42:
        return "primary", False
    if roll < 0.68:
        return "middle", False
    if roll < 0.90:
        return "kindergarten", False
    return "primary", True


def _name(rng: random.Random, kind: str, migrant: bool, place: str, number: int) -> str:
    if migrant:
        return f"{place} School for Migrant Workers' Children"
    if kind == "kindergarten":
        return f"{place} {rng.choice(_KINDERGARTEN_NAMES)} Kindergarten"
    if kind == "middle":
        return rng.choice((f"{DISTRICT_NAME} No. {number} Middle School", f"{place} Middle School"))
    return rng.choice((f"{place} Road Primary School", f"{place} Primary School"))


def _position(rng: random.Random) -> tuple[float, float, float]:
    """Latitude, longitude and the bearing (0..2pi) of a point around the centre."""
    bearing = rng.uniform(0, 2 * math.pi)
    distance = RADIUS_KM * math.sqrt(rng.random())  # even over the disc, not crowded inside
    lat = CENTRE[0] + distance * math.cos(bearing) / KM_PER_DEGREE
    lon = CENTRE[1] + distance * math.sin(bearing) / (
        KM_PER_DEGREE * math.cos(math.radians(CENTRE[0]))
    )
    return round(lat, 6), round(lon, 6), bearing


def plan_district(count: int, *, prefix: str = "jh", seed: int = 2026) -> list[PlannedSchool]:
    """`count` schools numbered from 1; the same seed gives the same district."""
    rng = random.Random(seed)
    schools: list[PlannedSchool] = []
    names: set[str] = set()
    numbers = {"middle": 0}
    for index in range(1, count + 1):
        kind, migrant = _kind(rng)
        if index <= 3:  # the first schools (the ones with real boxes) show each main type
            kind, migrant = ("primary", "middle", "kindergarten")[index - 1], False
        place = rng.choice(_PLACES)
        if kind == "middle":
            numbers["middle"] += 1
        name = _name(rng, kind, migrant, place, numbers["middle"])
        while name in names:
            name = f"{name.rsplit(' (', 1)[0]} ({rng.choice(_PLACES)} Campus)"
        names.add(name)
        lat, lon, bearing = _position(rng)
        sector = int(bearing / (2 * math.pi) * len(VENDORS)) % len(VENDORS)
        schools.append(
            PlannedSchool(
                index=index,
                code=school_code(prefix, index),
                name=name,
                type=kind,
                migrant=migrant,
                address=(
                    f"{rng.randint(1, 388)} {rng.choice(_PLACES)} {rng.choice(_ROADS)}, "
                    f"{DISTRICT_NAME}"
                ),
                latitude=lat,
                longitude=lon,
                vendor=VENDORS[sector].code,
            )
        )
    return schools
