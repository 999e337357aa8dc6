"""PostgreSQL connections without a ping before every use (discom/db.py `PoolSettings`):
connections dropped by the database (a restart, a failover, an administrator) cost one
failed transaction, after which the pool is renewed and work goes on."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from discom.db import Database, PoolSettings

pytestmark = pytest.mark.postgres_only

_BACKENDS = text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
_TERMINATE = text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE application_name = :name")


async def _answers(database: Database) -> int:
    async with database.uow() as uow:
        return int(await uow.session.scalar(text("SELECT 1")) or 0)


async def test_dropped_connections_fail_one_transaction_then_the_pool_is_renewed(
    database_url: str,
):
    name = f"bijli-test-{secrets.token_hex(4)}"
    database = Database(database_url, PoolSettings(size=3, application_name=name))
    admin = Database(database_url)
    try:
        # Three connections in the pool, each named for pg_stat_activity.
        await asyncio.gather(*(_answers(database) for _ in range(3)))
        async with admin.uow() as uow:
            before = set((await uow.session.scalars(_BACKENDS, {"name": name})).all())
            assert len(before) == 3
            await uow.session.execute(_TERMINATE, {"name": name})
        await asyncio.sleep(0.2)  # the backends exit

        with pytest.raises(DBAPIError) as failed:
            await _answers(database)
        assert failed.value.connection_invalidated

        # Every connection the pool held is replaced, not only the one that failed.
        assert await asyncio.gather(*(_answers(database) for _ in range(3))) == [1, 1, 1]
        async with admin.uow() as uow:
            after = set((await uow.session.scalars(_BACKENDS, {"name": name})).all())
        assert after and not after & before
    finally:
        await database.dispose()
        await admin.dispose()
