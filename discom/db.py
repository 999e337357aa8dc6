"""Engines and sessions for the two supported databases.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL` and foreign keys on.
Its transactions start with `BEGIN IMMEDIATE`: a deferred transaction that reads and then
writes can fail at once with "database is locked" when another connection wrote meanwhile,
and the busy timeout does not help there. Taking the write lock up front makes concurrent
writers queue instead, which is the right trade for a one-process deployment.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from discom.uow import UnitOfWork

SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class PoolSettings:
    """How a process holds its PostgreSQL connections (SQLite ignores this).

    `size` connections are kept open; when all are busy a transaction waits for one. An
    `overflow` connection would be closed as soon as it is handed back, so under a sustained
    burst every transaction would start a new PostgreSQL backend exactly when the database
    is busiest — measured, it turned a short queue into a collapse (bench/reconnect_latency.py)
    — hence none by default: size the pool for the process instead. `pre_ping` tests every
    connection before use; with asyncpg that is three round trips (BEGIN, an empty query,
    ROLLBACK) per transaction, so it is off by default: a connection broken by a database
    restart fails one transaction, which invalidates the whole pool, and the caller's retry
    (Razorpay's and Telegram's redelivery, the worker's next round) gets fresh connections.
    """

    size: int = 10
    overflow: int = 0
    pre_ping: bool = False
    application_name: str = "bijli"


def create_engine(url: str, pool: PoolSettings | None = None, **kwargs: Any) -> AsyncEngine:
    # Bound values (mobiles, names, Samagra IDs) never reach logs or exception messages.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    pool = pool or PoolSettings()
    kwargs.setdefault("pool_size", pool.size)
    kwargs.setdefault("max_overflow", pool.overflow)
    kwargs.setdefault("pool_pre_ping", pool.pre_ping)
    # Shown in pg_stat_activity, so a DBA can tell the web tier's connections from a worker's.
    kwargs.setdefault("connect_args", {"server_settings": {
        "application_name": pool.application_name}})
    return create_async_engine(url, **kwargs)


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite creates it
    with the umask's mode; its -wal and -shm files take the same mode from it."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if path.parent.is_dir():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below (pysqlite's own is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class Database:
    """An engine and its session factory: what every unit of work is opened from."""

    def __init__(self, url: str, pool: PoolSettings | None = None,
                 **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, pool, **engine_kwargs)
        self.sessionmaker = create_sessionmaker(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)

    async def dispose(self) -> None:
        await self.engine.dispose()
