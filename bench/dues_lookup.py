"""Dues lookups against an imported database: what one "how much do I owe?" costs.

Run against a database populated by `bench/import_bench.py` (it prints these commands):

    .venv/bin/python bench/dues_lookup.py --url sqlite+aiosqlite:////tmp/bijli-import-bench-XXXX/bijli.db
    .venv/bin/python bench/dues_lookup.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/bijli_bench

Runs N (default 5000) lookups of random consumer numbers, one after another, each as the bot
does it: its own unit of work (`db.uow()`) around `discom.accounts.load_account` (consumer,
ledger → dues, meters → supply). Prints p50/p90/p99/max in ms and lookups/s. Baseline, same
run, same pool: a `SELECT 1` in its own unit of work, so `ratio lookup/baseline` is what the
three account queries and the dues arithmetic add to a bare round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select, text

from discom.accounts import load_account
from discom.db import Database
from discom.models import Consumer

WARM_UP = 200


async def all_consumer_numbers(db: Database) -> list[str]:
    async with db.uow() as uow:
        return list((await uow.session.scalars(select(Consumer.consumer_no))).all())


async def lookup(db: Database, consumer_no: str) -> None:
    async with db.uow() as uow:
        account = await load_account(uow.session, consumer_no)
        assert account is not None, consumer_no


async def select_one(db: Database) -> None:
    async with db.uow() as uow:
        await uow.session.execute(text("SELECT 1"))


async def timings(calls: list[Callable[[], Awaitable[None]]]) -> tuple[list[float], float]:
    """Milliseconds per call, and the wall time of all of them in seconds."""
    laps: list[float] = []
    started = time.perf_counter()
    for call in calls:
        lap = time.perf_counter()
        await call()
        laps.append((time.perf_counter() - lap) * 1000)
    return laps, time.perf_counter() - started


def percentile(sorted_ms: list[float], share: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(share * len(sorted_ms)) - 1))
    return sorted_ms[index]


def show(label: str, laps: list[float], seconds: float) -> float:
    ordered = sorted(laps)
    p50 = statistics.median(ordered)
    print(f"  {label:<22} p50 {p50:6.2f} ms  p90 {percentile(ordered, 0.90):6.2f} ms  "
          f"p99 {percentile(ordered, 0.99):6.2f} ms  max {ordered[-1]:7.2f} ms  "
          f"{len(laps) / seconds:8,.0f} /s")
    return p50


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="a database populated by import_bench")
    parser.add_argument("-n", "--lookups", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    db = Database(args.url)
    try:
        numbers = await all_consumer_numbers(db)
        if not numbers:
            raise SystemExit("no consumers: run bench/import_bench.py first")
        rng = random.Random(args.seed)
        picks = [rng.choice(numbers) for _ in range(args.lookups)]
        print(f"{db.dialect}: {args.url}\n  {len(numbers):,} consumers, "
              f"{args.lookups:,} random lookups, sequential, one unit of work each")
        warm = [rng.choice(numbers) for _ in range(WARM_UP)]
        await timings([lambda no=no: lookup(db, no) for no in warm])

        base_laps, base_seconds = await timings(
            [lambda: select_one(db) for _ in range(args.lookups)])
        laps, seconds = await timings([lambda no=no: lookup(db, no) for no in picks])

        base_p50 = show("baseline SELECT 1", base_laps, base_seconds)
        p50 = show("load_account", laps, seconds)
        print(f"  ratio lookup/baseline (p50): {p50 / base_p50:.1f}")
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
