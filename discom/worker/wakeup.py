"""Waking workers as soon as work is committed; polling stays the safety net.

On PostgreSQL, `pg_notify` inside the transaction is delivered to every listening worker
process when (and only if) it commits. On SQLite everything runs in one process, so an
in-process event is set after the session commits.

Several loops of one process may wait (the worker's job loop, each channel's sender): each
gets its own event from `waiter()`, and every wake-up sets them all.

A notification names its news — `ORDERS` (a reconnection order may be due) and/or `MESSAGES`
(outbox rows) — so the job loop runs only the jobs that news concerns (`take_news`): a HES
callback that queued "supply restored" does not send every worker process to claim orders
and find none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from discom.availability import Backoff, ThrottledLog, describe

CHANNEL = "bijli_work"
LISTENER_NAME = "bijli-listen"  # its application_name in pg_stat_activity
ORDERS = frozenset({"orders"})  # a reconnection order may be due
MESSAGES = frozenset({"messages"})  # outbox rows to send
EVERYTHING = ORDERS | MESSAGES
log = structlog.get_logger(__name__)
_NOTIFY = text("SELECT pg_notify(:channel, :news)")


def parse_news(payload: str) -> frozenset[str]:
    """A notification's payload; an empty or unknown one (an older process) is everything."""
    news = frozenset(payload.split(",")) & EVERYTHING
    return news or EVERYTHING


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._waiters: list[asyncio.Event] = []
        self._listener: Any = None
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._news: set[str] = set()

    def _set(self, news: frozenset[str] = EVERYTHING) -> None:
        self._news |= news
        self._event.set()
        for waiter in self._waiters:
            waiter.set()

    def take_news(self) -> frozenset[str]:
        """What the wake-ups since the last call were about (empty: none came)."""
        news, self._news = frozenset(self._news), set()
        return news

    def waiter(self) -> Callable[[float], Awaitable[bool]]:
        """A `wait(seconds)` of its own for another loop, woken by every wake-up."""
        event = asyncio.Event()
        self._waiters.append(event)

        async def wait(seconds: float) -> bool:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
            woken = event.is_set()
            event.clear()
            return woken

        return wait

    async def notify_on_commit(self, session: AsyncSession,
                               news: frozenset[str] = EVERYTHING) -> None:
        """Wake the workers once this session's transaction commits, about `news`."""
        if session.bind.dialect.name == "postgresql":
            await session.execute(_NOTIFY, {"channel": CHANNEL,
                                            "news": ",".join(sorted(news))})
        sync_session = session.sync_session

        def _after_commit(_: Any) -> None:
            self._set(news)

        event.listen(sync_session, "after_commit", _after_commit, once=True)

    def poke(self, news: frozenset[str] = EVERYTHING) -> None:
        """Wake this process's loops (no other process) about `news`."""
        self._set(news)

    async def wait(self, seconds: float) -> bool:
        """Sleep until woken or `seconds` pass; True when woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        woken = self._event.is_set()
        self._event.clear()
        return woken

    async def listen_postgres(self, dsn: str, *, connect_timeout: float = 5.0,
                              check_every: float = 30.0, backoff: Backoff = Backoff()) -> None:
        """Receive other processes' notifications (worker processes on PostgreSQL).

        The LISTEN connection is kept: lost (a PostgreSQL restart, a failover) or found
        dead by a check every `check_every` seconds, it is opened again with `backoff`,
        logged both ways. Meanwhile the workers poll, and on reconnecting every loop is
        woken once for what it may have missed."""
        try:
            await self._open_listener(dsn, connect_timeout)
        except Exception as error:
            log.warning("wakeup.listen_failed", error=describe(error),
                        action="polling until the database is back")
        self._keeper = asyncio.create_task(
            self._keep_listening(dsn, connect_timeout, check_every, backoff),
            name="bijli-wakeup-listen")

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def _open_listener(self, dsn: str, connect_timeout: float) -> None:
        import asyncpg

        lost = asyncio.Event()
        listener = await asyncpg.connect(dsn, timeout=connect_timeout, server_settings={
            "application_name": LISTENER_NAME})
        listener.add_termination_listener(lambda _connection: lost.set())
        await listener.add_listener(
            CHANNEL, lambda _connection, _pid, _channel, payload: self._set(parse_news(payload)))
        self._listener, self._lost = listener, lost

    async def _keep_listening(self, dsn: str, connect_timeout: float, check_every: float,
                              backoff: Backoff) -> None:
        failures = ThrottledLog(first_interval=backoff.first, max_interval=backoff.cap,
                                logger=log)
        while True:
            if self._listener is None:
                for delay in backoff.delays():
                    await asyncio.sleep(delay)
                    try:
                        await self._open_listener(dsn, connect_timeout)
                    except Exception as error:
                        failures.failure("wakeup.listen_reconnect_failed", error)
                        continue
                    failures.recovered("wakeup.listen_reconnect_failed")
                    log.info("wakeup.listen_restored")
                    self._set(EVERYTHING)  # catch up with what was committed meanwhile
                    break
            if not await self._listener_alive(check_every, connect_timeout):
                log.warning("wakeup.listen_lost", action="polling and reconnecting")
                await self._close_listener()

    async def _listener_alive(self, check_every: float, answer_within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), check_every)
            return False
        try:
            await asyncio.wait_for(self._listener.fetchval("SELECT 1"), answer_within)
        except Exception:
            return False
        return True

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        # A dead connection is dropped at once; a live one is closed politely, briefly.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listener.close(), 1.0)
        listener.terminate()

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        await self._close_listener()
