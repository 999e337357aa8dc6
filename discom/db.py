"""Engines and sessions for the two supported databases.

SQLite (the embedded default) runs in WAL mode with `synchronous=FULL` and foreign keys on.
Its transactions start with `BEGIN IMMEDIATE`: a deferred transaction that reads and then
writes can fail at once with "database is locked" when another connection wrote meanwhile,
and the busy timeout does not help there. Taking the write lock up front makes concurrent
writers queue instead, which is the right trade for a one-process deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from discom.uow import UnitOfWork

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option: this connection only reads (SQLite then begins without the write lock).
READ_ONLY = "bijli_read_only"


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
    # A database that accepts connections but never answers must fail requests in seconds,
    # not hold them for minutes: connecting, waiting for a pooled connection and each
    # statement are bounded (DATABASE_CONNECT_TIMEOUT_SECONDS, ..._STATEMENT_...).
    connect_timeout: float = 5.0
    statement_timeout: float = 30.0


def create_engine(url: str, pool: PoolSettings | None = None, **kwargs: Any) -> AsyncEngine:
    # Bound values (mobiles, names, Samagra IDs) never reach logs or exception messages.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        busy_ms = int(pool.statement_timeout * 1000) if pool else SQLITE_BUSY_TIMEOUT_MS
        _private_sqlite_file(url)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine, busy_ms)
        return engine
    pool = pool or PoolSettings()
    kwargs.setdefault("pool_size", pool.size)
    kwargs.setdefault("max_overflow", pool.overflow)
    kwargs.setdefault("pool_pre_ping", pool.pre_ping)
    kwargs.setdefault("pool_timeout", pool.connect_timeout)
    kwargs.setdefault("connect_args", {
        "timeout": pool.connect_timeout,
        # asyncpg gives up waiting after `command_timeout`; the server's statement_timeout
        # also stops the work there (a client-side timeout alone leaves the query running).
        "command_timeout": pool.statement_timeout,
        "server_settings": {
            # Shown in pg_stat_activity: a DBA can tell the web tier's connections from a
            # worker's.
            "application_name": pool.application_name,
            "statement_timeout": str(int(pool.statement_timeout * 1000)),
        }})
    # Bound values (mobiles, names, amounts) never reach logs or error messages.
    kwargs.setdefault("hide_parameters", True)
    return create_async_engine(url, **kwargs)


def _private_sqlite_file(url: str) -> None:
    """Create the database file readable by its owner only (0600): it holds consumers'
    names and mobiles. SQLite gives its -wal and -shm files the same mode.

    An existing file is never opened here: SQLite's locks are POSIX advisory locks, which
    closing *any* descriptor of the file drops for the whole process, also those of this
    process's open connections (another engine on the same file). Another process then takes
    itself for the last user and deletes the WAL under them: their writes go unseen."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return  # SQLite itself says so on the first connection
    try:
        # A new file: no connection of this process can hold a lock on it.
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(descriptor)
    os.chmod(path, 0o600)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below (pysqlite's own is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only probe (/readyz) must not queue behind writers for the write lock.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
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
