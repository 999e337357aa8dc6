"""The worker loop: reconnection orders, the outbox, the sweep and the payment-link check.

Woken at once when work is committed (`Wakeup`), and polling every `poll` seconds anyway, so
a missed wake-up costs at most that. The sweep and the link check run on their own, slower
clocks. Any number of worker processes can run this loop against PostgreSQL: every claim is
`FOR UPDATE SKIP LOCKED` with a lease, so no work is done twice and a dead worker's work is
picked up when its lease runs out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from discom.availability import ThrottledLog
from discom.worker.wakeup import EVERYTHING, Wakeup

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[int]]


class Loop(Protocol):
    """Work that runs beside the job loop, on its own clock (a channel's paced sender, the
    daily reminders): `run` until stopped; `run_due` once, for `drain`."""

    async def run(self, stop: asyncio.Event, wait: Callable[[float], Awaitable[Any]]
                  ) -> None: ...

    async def run_due(self) -> int: ...


@dataclass
class Periodic:
    """A job run every `every` seconds (0: on every pass).

    `batch`: the most the job takes on in one run. A run that took less left nothing due,
    so the loop may sleep — anything committed meanwhile has woken it already; only a full
    batch (or, without `batch`, any work at all) makes it run again at once. Saves a claim
    that finds nothing after every round.

    `wakes_on`: the news (discom/worker/wakeup.py) that concern the job. Woken by other news
    it waits for its own, or for the poll interval, or runs again because it had more."""

    name: str
    job: Job
    every: float = 0.0
    batch: int | None = None
    wakes_on: frozenset[str] | None = None
    last_run: float = float("-inf")
    more: bool = False

    def due(self, clock: float, news: frozenset[str] = EVERYTHING, poll: float = 0.0) -> bool:
        if clock - self.last_run < self.every:
            return False
        if self.wakes_on is None or self.more:
            return True
        return bool(self.wakes_on & news) or clock - self.last_run >= poll

    def may_have_more(self, done: int) -> bool:
        return done >= self.batch if self.batch else done > 0


class Worker:
    def __init__(self, jobs: list[Periodic], wakeup: Wakeup, *, poll: float = 1.0,
                 loops: list[Loop] | None = None) -> None:
        self._jobs, self._wakeup, self._poll = jobs, wakeup, poll
        self._loops = list(loops or [])
        self._failures = ThrottledLog(logger=log)

    async def run_once(self) -> int:
        """One pass over every due job; returns how much work was done."""
        done, _ = await self._pass(EVERYTHING)
        return done

    async def _pass(self, news: frozenset[str]) -> tuple[int, bool]:
        """One pass over the jobs due on `news`: (work done, whether a job may have more
        due at once)."""
        done, more = 0, False
        for job in self._jobs:
            now = time.monotonic()
            if not job.due(now, news, self._poll):
                continue
            job.last_run, job.more = now, False
            try:
                did = await job.job()
            except Exception as error:
                # A failing job (database restarting, say) must not kill the worker, nor
                # fill the log with a traceback a second while the database is down.
                self._failures.failure("worker.job_failed", error, job=job.name)
                continue
            self._failures.recovered("worker.job_failed", job=job.name)
            done += did
            job.more = job.may_have_more(did)
            more = more or job.more
        return done, more

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", jobs=[job.name for job in self._jobs],
                 loops=len(self._loops))
        loops = [asyncio.create_task(loop.run(stop, self._wakeup.waiter()),
                                     name=f"bijli-worker-loop-{n}")
                 for n, loop in enumerate(self._loops)]
        stopping = asyncio.create_task(self._wake_on(stop), name="bijli-worker-stop")
        try:
            news = EVERYTHING
            while not stop.is_set():
                _, more = await self._pass(news)
                if not more:
                    await self._wakeup.wait(self._poll)
                news = self._wakeup.take_news()
        finally:
            stopping.cancel()
            self._wakeup.poke()
            await asyncio.gather(*loops, return_exceptions=True)
        log.info("worker stopped")

    async def _wake_on(self, stop: asyncio.Event) -> None:
        """A stop (SIGTERM) ends the sleep at once rather than after the poll interval."""
        await stop.wait()
        self._wakeup.poke()

    async def drain(self, rounds: int = 50) -> None:
        """Run passes until nothing is left to do (tests, `bijli chat` demo); then give up
        what the loops hold (a channel's lease), as a stopping worker does."""
        try:
            for _ in range(rounds):
                for job in self._jobs:
                    job.last_run = float("-inf")
                done = await self.run_once()
                for loop in self._loops:
                    try:
                        done += await loop.run_due()
                    except Exception as error:
                        self._failures.failure("worker.loop_failed", error)
                if done == 0:
                    return
        finally:
            for loop in self._loops:
                release = getattr(loop, "release", None)
                if release is not None:
                    await release()
