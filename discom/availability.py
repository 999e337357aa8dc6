"""Living with dependencies that come and go: Telegram at start, the database, PostgreSQL's
LISTEN connection.

- `ThrottledLog`: while something is down the same failure repeats many times a second;
  the log gets one line per failure kind, then again after 1 s, 2 s, 4 s ... (up to 5 min),
  each saying how many were left out, and one line when it works again. No tracebacks for
  an outage (they say nothing the one line does not, at ~29 KB/s).
- `Availability`: what a dependency is doing now ("up", "retrying: <reason>"), for /readyz.
- `start_or_retry`: start something now; if it is unreachable, go on without it and keep
  trying in the background with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# Errors that mean "the database (or another server) is unreachable or not answering", not
# a bug: logged as one line without a traceback.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


def is_outage(error: BaseException) -> bool:
    """A connection-level failure: the error or anything it was raised from is an OSError
    or a timeout, or SQLAlchemy marks it as a lost connection."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OUTAGE_ERRORS) or getattr(seen, "connection_invalidated", False):
            return True
        if type(seen).__module__.startswith("asyncpg") and "Connection" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(error: BaseException) -> str:
    """One short line: the error's class and the first line of its message."""
    message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@dataclass
class _Kind:
    next_at: float
    interval: float
    left_out: int = 0


@dataclass
class ThrottledLog:
    """One warning per (event, error class), then again after a doubling interval."""

    first_interval: float = 1.0
    max_interval: float = 300.0
    clock: Callable[[], float] = time.monotonic
    logger: Any = field(default_factory=lambda: log)
    _kinds: dict[tuple[str, str, str], _Kind] = field(default_factory=dict)

    def failure(self, event: str, error: BaseException, **fields: Any) -> bool:
        """Log `error` under `event` unless its kind (event, error class and `fields`) was
        logged too recently; True if logged. A failure that is not an outage keeps its
        traceback the first time."""
        key, now = (event, type(error).__name__, repr(sorted(fields.items()))), self.clock()
        kind = self._kinds.get(key)
        if kind is not None and now < kind.next_at:
            kind.left_out += 1
            return False
        interval = self.first_interval if kind is None else min(kind.interval * 2,
                                                                 self.max_interval)
        left_out = kind.left_out if kind else 0
        self._kinds[key] = _Kind(next_at=now + interval, interval=interval)
        if kind is None and not is_outage(error):
            fields["exc_info"] = error
        self.logger.warning(event, error=describe(error), left_out=left_out,
                            next_report_in_seconds=interval, **fields)
        return True

    def recovered(self, event: str, **fields: Any) -> None:
        """`event` works again: say so once, and start counting afresh."""
        where = repr(sorted(fields.items()))
        kinds = [key for key in self._kinds if key[0] == event and key[2] == where]
        if kinds:
            for key in kinds:
                del self._kinds[key]
            self.logger.info(f"{event}.recovered", **fields)


@dataclass
class Availability:
    """The state of one dependency, as /readyz reports it."""

    state: str = "off"  # off | starting | up | retrying
    reason: str | None = None

    def report(self) -> str:
        return f"{self.state}: {self.reason}" if self.reason else self.state


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0
    cap: float = 60.0

    def delays(self) -> Any:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.cap)


async def start_or_retry(name: str, start: Callable[[], Awaitable[None]],
                         status: Availability, retryable: tuple[type[BaseException], ...],
                         backoff: Backoff = Backoff()) -> asyncio.Task[None] | None:
    """Run `start()`. If it fails with a `retryable` error, return a task that keeps trying
    (with `backoff`) while the caller goes on without it; other errors propagate (a wrong
    token is a configuration error, not an outage)."""
    status.state = "starting"
    try:
        await start()
    except retryable as error:
        status.state, status.reason = "retrying", describe(error)
        log.warning(f"{name}.unreachable_at_start", error=describe(error),
                    action="starting without it, retrying in the background")
        return asyncio.create_task(_keep_trying(name, start, status, retryable, backoff),
                                   name=f"{name}-start-retry")
    status.state, status.reason = "up", None
    return None


async def _keep_trying(name: str, start: Callable[[], Awaitable[None]], status: Availability,
                       retryable: tuple[type[BaseException], ...], backoff: Backoff) -> None:
    throttled = ThrottledLog(first_interval=backoff.first, max_interval=backoff.cap)
    for delay in backoff.delays():
        await asyncio.sleep(delay)
        try:
            await start()
        except retryable as error:
            status.reason = describe(error)
            throttled.failure(f"{name}.still_unreachable", error)
            continue
        status.state, status.reason = "up", None
        log.info(f"{name}.started_after_retry")
        return


async def stop_retrying(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
