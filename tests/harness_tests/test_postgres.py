"""The throwaway PostgreSQL server: each test gets its own empty database."""

from __future__ import annotations

import pytest
import sqlalchemy


@pytest.mark.postgres
def test_postgres_database_is_fresh_and_usable(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE probe (id int primary key)"))
            conn.execute(sqlalchemy.text("INSERT INTO probe VALUES (1)"))
            assert conn.execute(sqlalchemy.text("SELECT count(*) FROM probe")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_each_test_gets_its_own_database(postgres_url: str) -> None:
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sqlalchemy.text("SELECT count(*) FROM pg_tables WHERE tablename = 'probe'")
            ).scalar()
            assert tables == 0
    finally:
        engine.dispose()
