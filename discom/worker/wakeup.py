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

CHANNEL = "bijli_work"
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

    async def listen_postgres(self, dsn: str) -> None:
        """Receive other processes' notifications (worker processes on PostgreSQL)."""
        import asyncpg

        self._listener = await asyncpg.connect(dsn)
        await self._listener.add_listener(
            CHANNEL, lambda _connection, _pid, _channel, payload: self._set(parse_news(payload)))

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
