"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import controller.models  # noqa: F401
from controller.core.db import make_engine
from controller.migrations import alembic_config, upgrade


def test_upgrade_matches_models_and_downgrades(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
        command.downgrade(alembic_config(database_url), "base")
        upgrade(database_url)
    finally:
        engine.dispose()
