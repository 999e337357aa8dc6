"""Sending no faster than a provider allows: a pacer per channel, and one sender per channel.

The limits are the provider's, per account or sender number — not per process: Telegram
takes 30 messages/s from one bot (and about one per second into one chat), a WhatsApp sender
about 10/s by default, SMS what the number or sender id was provisioned for. Two ways to keep
N worker processes under one limit were possible: a limiter shared through the database
(every send takes a token from a row), or one sender per channel. Bijli does the second:

- `ChannelLease` (a row in `worker_leases`, "send:<channel>") is held by one worker process
  at a time; only the holder sends on that channel. It renews the lease every third of its
  length and stops sending, on its own monotonic clock, `SAFETY_MARGIN` before the lease
  could have run out — so a holder that stalls or loses the database stops before another
  worker can take over (after `lease_until`, by the database's record). A dead holder's
  channel is picked up within one lease length (CHANNEL_LEASE_SECONDS).
- `Pacer` spaces that one process's sends evenly at the configured rate (less a 2 %
  headroom) and at most one per `per_chat` seconds into one chat, with a hard cap: the sends
  started in any one second never exceed the limit, even while catching up after the event
  loop was busy. One provider call is one unit of cost (an SMS costs its segments).
- A 429 from the provider (`RateLimited(retry_after)`) pauses the whole channel — in the
  pacer, and in the lease row, so a worker that takes the channel over waits too — and the
  message goes back to the queue without counting as a failed try.

One process easily makes 30-100 provider calls a second (they are awaited concurrently), so
a single sender per channel costs no throughput; the rate limit is the provider's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from discom.clock import utcnow
from discom.db import Database
from discom.models import WorkerLease
from discom.sql import insert_if_absent

# Pace at this share of the configured limit: sends leave evenly spaced, but network jitter
# can bunch their arrivals at the provider, and the limit is counted there.
HEADROOM = 0.98
# How far behind its grid the pacer may catch up after sends started late (Pacer.acquire).
CATCH_UP = 0.25
# The hard cap counts the sends of the last second and this much more: a send leaves a few
# milliseconds after its turn, so its turn's second and its request's second differ slightly.
WINDOW = 1.010
SAFETY_MARGIN = 2.0  # seconds before the lease's end at which the holder stops sending


class RateLimited(Exception):
    """The provider said "too many requests": wait `retry_after` seconds, then try again."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(detail or f"rate limited; retry after {retry_after:g}s")
        self.retry_after = max(float(retry_after), 0.0)


class PacerClosed(Exception):
    """The sender is stopping: no more turns."""


class Pacer:
    """Evenly spaced sends at `rate` per second (times HEADROOM), at most one per `per_chat`
    seconds into one chat, and none while paused. In-process; see the module docstring for
    how several processes share a limit."""

    def __init__(self, rate: float, per_chat: float = 0.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 headroom: float = HEADROOM) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._interval = 1.0 / (rate * headroom)
        self._per_chat = per_chat
        self._clock, self._sleep = clock, sleep
        self._next = 0.0  # when the next send may start
        self._paused_until = 0.0
        self._chat_next: dict[str, float] = {}
        self._window: deque[tuple[float, float]] = deque()  # (start, weight) in the last 1 s
        self._window_weight = 0.0
        self._closed = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def interval(self) -> float:
        return self._interval

    async def acquire(self, chat: str | None = None, cost: float = 1.0) -> None:
        """Wait for this send's turn. Call once per provider call, just before it.

        Turns are taken one at a time under a lock, on a grid `interval` apart (the rate
        times HEADROOM). A turn that starts late (a busy event loop oversleeps) keeps its
        grid slot, so the next ones catch up — up to `CATCH_UP` behind; later than that the
        grid restarts — but never beyond the hard cap: the sends (weighted by cost) that
        started within the last second never exceed the rate."""
        if chat is not None and self._per_chat:
            wait = self._chat_next.get(chat, 0.0) - self._clock()
            if wait > 0:
                await self._pause_for(wait)
        weight = max(cost, 1.0)
        async with self._lock:
            while True:
                now = self._clock()
                due = max(self._next, self._paused_until)
                if now < due:
                    await self._pause_for(due - now)
                    continue
                wait = self._window_wait(now, weight)
                if wait <= 0:
                    break
                await self._pause_for(wait)
            if self._closed.is_set():
                raise PacerClosed
            start = self._clock()
            slot = due if start - due <= CATCH_UP else start
            self._next = slot + weight * self._interval
            self._window.append((start, weight))
            self._window_weight += weight
        if chat is not None and self._per_chat:
            self._chat_next[chat] = start + self._per_chat
            if len(self._chat_next) > 50_000:
                self._forget_old_chats()

    def close(self) -> None:
        """Stop handing out turns: every waiting and later `acquire` raises PacerClosed."""
        self._closed.set()

    async def _pause_for(self, seconds: float) -> None:
        if self._closed.is_set():
            raise PacerClosed
        if self._sleep is not asyncio.sleep:  # a test's clock
            await self._sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)
        if self._closed.is_set():
            raise PacerClosed

    def _window_wait(self, now: float, weight: float) -> float:
        """Seconds until a send of `weight` fits in the last second's budget (0: now)."""
        window = self._window
        while window and now - window[0][0] >= WINDOW:
            self._window_weight -= window.popleft()[1]
        excess = self._window_weight + weight - self.rate
        if excess <= 1e-9 or not window:
            return 0.0
        for at, sent in window:
            excess -= sent
            if excess <= 1e-9:
                return at + WINDOW - now
        return window[-1][0] + WINDOW - now

    def pause(self, seconds: float) -> None:
        """Nothing more is sent for `seconds` (a provider's retry-after)."""
        until = self._clock() + max(seconds, 0.0)
        self._paused_until = max(self._paused_until, until)
        self._next = max(self._next, self._paused_until)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def _forget_old_chats(self) -> None:
        now = self._clock()
        self._chat_next = {chat: at for chat, at in self._chat_next.items() if at > now}


class ChannelLease:
    """The right to run one named job — sending on one channel, the daily reminder run —
    held by one worker process at a time."""

    def __init__(self, db: Database, name: str, owner: str, duration: timedelta, *,
                 clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name, self.owner = name, owner
        self._db, self._duration = db, duration
        self._clock, self._monotonic = clock, monotonic
        self._valid_until = float("-inf")  # on this process's monotonic clock
        self._renewed_at = float("-inf")
        self._retry_at = float("-inf")  # when a worker without the lease tries again
        self.paused_until: datetime | None = None

    @property
    def held(self) -> bool:
        """True while this process may send (the lease is ours and not about to run out)."""
        return self._monotonic() < self._valid_until

    def due_for_renewal(self) -> bool:
        """Time to renew (holder, every third of the lease) or to try for it again (others,
        every second or so: not on every wake-up, which would write to the database)."""
        now = self._monotonic()
        if self.held:
            return now - self._renewed_at >= self._duration.total_seconds() / 3
        return now >= self._retry_at

    async def acquire(self) -> bool:
        """Take or renew the lease; True when this process holds it afterwards."""
        started = self._monotonic()
        now = self._clock()
        until = now + self._duration
        async with self._db.uow() as uow:
            result = await uow.session.execute(
                update(WorkerLease)
                .where(WorkerLease.name == self.name,
                       or_(WorkerLease.owner == self.owner, WorkerLease.lease_until.is_(None),
                           WorkerLease.lease_until < now))
                .values(owner=self.owner, lease_until=until, updated_at=now)
                .returning(WorkerLease.paused_until))
            row = result.first()
            if row is None:
                taken = await insert_if_absent(
                    uow.session, WorkerLease.__table__,
                    {"name": self.name, "owner": self.owner, "lease_until": until,
                     "paused_until": None, "state": {}, "updated_at": now}, ["name"])
                paused = None
            else:
                taken, paused = True, row[0]
            await uow.commit()
        if not taken:
            self._valid_until = float("-inf")
            self._retry_at = started + min(1.0, self._duration.total_seconds() / 3)
            return False
        self.paused_until = paused
        self._renewed_at = started
        self._valid_until = started + self._duration.total_seconds() - min(
            SAFETY_MARGIN, self._duration.total_seconds() / 5)
        return True

    async def pause(self, seconds: float) -> None:
        """Record a provider's retry-after for whoever sends on this channel next."""
        until = self._clock() + timedelta(seconds=seconds)
        async with self._db.uow() as uow:
            await uow.session.execute(
                update(WorkerLease).where(WorkerLease.name == self.name)
                .values(paused_until=until))
            await uow.commit()
        self.paused_until = until

    async def load_state(self) -> dict:
        async with self._db.uow() as uow:
            state = await uow.session.scalar(
                select(WorkerLease.state).where(WorkerLease.name == self.name))
        return dict(state or {})

    async def save_state(self, state: dict) -> None:
        """The job's own memory, kept with its lease (written only while holding it)."""
        async with self._db.uow() as uow:
            await uow.session.execute(
                update(WorkerLease)
                .where(WorkerLease.name == self.name, WorkerLease.owner == self.owner)
                .values(state=dict(state), updated_at=self._clock()))
            await uow.commit()

    async def release(self) -> None:
        """Give the channel up at once (a clean shutdown), so another worker need not wait."""
        if not self.held:
            return
        self._valid_until = float("-inf")
        async with self._db.uow() as uow:
            await uow.session.execute(
                update(WorkerLease)
                .where(WorkerLease.name == self.name, WorkerLease.owner == self.owner)
                .values(owner=None, lease_until=None, updated_at=self._clock()))
            await uow.commit()


async def current_holder(db: Database, name: str) -> str | None:
    async with db.uow() as uow:
        return await uow.session.scalar(
            select(WorkerLease.owner).where(WorkerLease.name == name,
                                            WorkerLease.lease_until > utcnow()))
