"""Controller fixtures: a migrated database (SQLite and PostgreSQL), an app, users, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from controller.app import create_app
from controller.auth.models import Role, UserCreate
from controller.auth.service import create_user, issue_token
from controller.core.db import make_engine
from controller.core.settings import Settings
from controller.migrations import upgrade
from controller.schools.models import SchoolCreate, SchoolType
from controller.schools.service import create_school

SECRET = "test-secret-key-0123456789"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="production",
        secret_key=SECRET,
        database_url=database_url,
        ingest_batch_interval_s=0.05,
        summary_cache_s=0,  # tests read their own writes; the cache has its own test
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A database brought to head by the migrations (never create_all)."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@dataclass
class World:
    """Two schools with different vendors, a box at each, and a user per role."""

    school_a: int = 0
    school_b: int = 0
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def world(engine: Engine, settings: Settings) -> World:
    world = World()
    with Session(engine) as session:
        a = create_school(
            session=session,
            data=SchoolCreate(
                code="mh-0001",
                name="Minhang No.1 Primary",
                district="minhang",
                type=SchoolType.PRIMARY,
                vendor="acme",
                latitude=31.1,
                longitude=121.4,
            ),
        )
        b = create_school(
            session=session,
            data=SchoolCreate(
                code="mh-0002",
                name="Minhang Kindergarten",
                district="minhang",
                type=SchoolType.KINDERGARTEN,
                vendor="bolt",
            ),
        )
        assert a.id is not None and b.id is not None
        world.school_a, world.school_b = a.id, b.id
        users = {
            "ops": UserCreate(username="ops", role=Role.OPS, password="ops-password"),
            "tech": UserCreate(username="tech", role=Role.TECHNICIAN, password="tech-password"),
            "school_a": UserCreate(
                username="lead-a", role=Role.SCHOOL, school_id=a.id, password="lead-a-password"
            ),
            "school_b": UserCreate(
                username="lead-b", role=Role.SCHOOL, school_id=b.id, password="lead-b-password"
            ),
            "vendor_a": UserCreate(
                username="acme", role=Role.VENDOR, vendor="acme", password="acme-password"
            ),
            "vendor_b": UserCreate(
                username="bolt", role=Role.VENDOR, vendor="bolt", password="bolt-password"
            ),
        }
        for who, data in users.items():
            user = create_user(session=session, data=data)
            token, _ = issue_token(session=session, secret_key=SECRET, user=user, kind="api")
            world.tokens[who] = token
        session.commit()
    return world


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine)
    with TestClient(app) as test_client:
        yield test_client
