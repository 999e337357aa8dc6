"""Shared fixtures: a migrated database per test, on SQLite or on PostgreSQL.

Set `TEST_DATABASE_URL=postgresql+asyncpg://...` to run the suite against PostgreSQL; the
schema there is dropped and rebuilt by Alembic once per session, and every table is
truncated before each test. Without it each test gets its own SQLite file, copied from a
database migrated once per session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from discom.db import Database
from discom.models import Base
from discom.schema import upgrade

pytest_plugins = [
    "tests.fakes.telegram_api",
    "tests.fakes.razorpay_server",
    "tests.fakes.bijli_app",
    "tests.fakes.twilio_api",
    "tests.fakes.samagra_api",
]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip)


async def _reset_postgres_schema(url: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at Alembic head: a SQLite file to copy, or the PostgreSQL URL itself."""
    if ON_POSTGRES:
        assert TEST_DATABASE_URL
        asyncio.run(_reset_postgres_schema(TEST_DATABASE_URL))
        upgrade(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        return migrated_template
    path = tmp_path / "bijli.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    if ON_POSTGRES:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with database.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        await database.dispose()
