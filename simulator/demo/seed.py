"""Seeding the demo's database: the district, its boxes and the demo users, through services.

Seeding is a list of steps (`SEED_STEPS`), each a function of one `SeedContext`; a later
capability (tickets, installs, patrols, the KPI report) adds its own step to the list rather
than editing the others. Every step is idempotent, so re-running the demo on a kept data
directory adds only what is missing. Only domain services write; no SQL here.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from controller.auth.models import Role, UserCreate
from controller.auth.service import create_user, get_user_by_name
from controller.core.errors import DomainError
from controller.devices.models import Box
from controller.devices.service import assign_box
from controller.schools.models import SchoolCreate, SchoolType
from controller.schools.service import create_school, get_school_by_code
from simulator.demo.district import DISTRICT, VENDORS, PlannedSchool

__all__ = ["SEED_STEPS", "DemoLogin", "SeedContext", "SeedStep", "seed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoLogin:
    """A demo user; the password is made once per data directory and printed at start."""

    username: str
    role: str
    password: str
    what: str
    school: str | None = None
    vendor: str | None = None


@dataclass
class SeedContext:
    """What every step gets: a session, the planned district, and the logins to create."""

    session: Session
    schools: list[PlannedSchool]
    logins: list[DemoLogin]
    school_ids: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n


SeedStep = Callable[[SeedContext], None]


def seed_schools(ctx: SeedContext) -> None:
    """Every planned school with its 16 key-area slots (the school service makes the slots)."""
    for planned in ctx.schools:
        school = get_school_by_code(session=ctx.session, code=planned.code)
        if school is None:
            school = create_school(
                session=ctx.session,
                data=SchoolCreate(
                    code=planned.code,
                    name=planned.name,
                    district=DISTRICT,
                    type=SchoolType(planned.type),
                    address=planned.address,
                    latitude=planned.latitude,
                    longitude=planned.longitude,
                    vendor=planned.vendor,
                ),
            )
            ctx.count("schools")
        assert school.id is not None
        ctx.school_ids[planned.code] = school.id


def seed_boxes(ctx: SeedContext) -> None:
    """Register each school's box, so a box that never connected shows as offline."""
    for planned in ctx.schools:
        if ctx.session.get(Box, planned.box_id) is None:
            assign_box(
                session=ctx.session,
                box_id=planned.box_id,
                school_id=ctx.school_ids[planned.code],
            )
            ctx.count("boxes")


def seed_users(ctx: SeedContext) -> None:
    """The demo logins: ops, a school's safety lead, a technician and a vendor."""
    for login in ctx.logins:
        try:
            get_user_by_name(session=ctx.session, username=login.username)
            continue
        except DomainError:
            pass
        create_user(
            session=ctx.session,
            data=UserCreate(
                username=login.username,
                role=Role(login.role),
                school_id=ctx.school_ids[login.school] if login.school else None,
                vendor=login.vendor,
                password=login.password,
            ),
        )
        ctx.count("users")


SEED_STEPS: list[SeedStep] = [seed_schools, seed_boxes, seed_users]
"""In order; a capability appends its own step (it may rely on the ones before it)."""


def demo_logins(schools: list[PlannedSchool]) -> list[DemoLogin]:
    """Fresh passwords for the four demo roles; the lead and vendor follow the first school."""
    first = schools[0]
    vendor = next(v for v in VENDORS if v.code == first.vendor)

    def password() -> str:
        return secrets.token_urlsafe(9)

    return [
        DemoLogin("ops", "ops", password(), "security centre: the whole district"),
        DemoLogin(
            "safety-lead",
            "school",
            password(),
            f"safety lead of {first.name} ({first.code}) only",
            school=first.code,
        ),
        DemoLogin("technician", "technician", password(), "installs and provisioning"),
        DemoLogin(
            f"vendor-{vendor.code}",
            "vendor",
            password(),
            f"{vendor.name}: its own schools only",
            vendor=vendor.code,
        ),
    ]


def seed(
    engine: Engine,
    schools: list[PlannedSchool],
    logins: list[DemoLogin],
    steps: list[SeedStep] | None = None,
) -> dict[str, int]:
    """Run every step in one transaction; returns what was created (empty when nothing new)."""
    with Session(engine, expire_on_commit=False) as session:
        ctx = SeedContext(session=session, schools=schools, logins=logins)
        for step in steps if steps is not None else SEED_STEPS:
            step(ctx)
            session.flush()
        session.commit()
    log.info("demo seeded: %s", ctx.created or "nothing new")
    return ctx.created
