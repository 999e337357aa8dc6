"""Bulk CSV import at discom scale: 7.25 lakh consumers, a meter each, and their bills.

Run:

    .venv/bin/python bench/import_bench.py                       # both engines, 725_000 consumers
    .venv/bin/python bench/import_bench.py --consumers 100000 --engines sqlite
    .venv/bin/python bench/import_bench.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/bijli_bench

Generates deterministic CSV files (seeded random) in a temporary directory: consumers (mobiles
with and without +91, some empty), one meter each, and bills for two months per consumer with
an older unpaid month for some (arrears). A small share of rows is bad on purpose, so the
error and warning paths are part of the measurement (a bad mobile is a warning, not a
refused row). For each engine it migrates a fresh database (SQLite:
a file in a temporary directory; PostgreSQL: `--pg-url`, created if missing, schema dropped and
rebuilt), runs `discom.importer.import_csv` for each kind and prints rows/s; then re-imports
the bills (nothing to write: the idempotent path).

Baseline, same run, same driver: the consumer rows read with the plain `csv` module and
inserted with the driver's own `executemany` into a scratch table (no validation, no upsert,
one commit per batch like the importer) — `ratio importer/baseline` is the importer's consumer
rate over that. The plain `csv` parsing rate is printed too.

The populated databases are left in place (`--keep`, the default) and their URLs printed, for
`bench/dues_lookup.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from discom.db import Database
from discom.importer import ImportReport, import_csv
from discom.schema import upgrade

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bijli_bench"
FIRST_CONSUMER_NO = 3_300_000_000
BAD_EVERY = 2_000  # one deliberately bad row in this many
MOBILE_PREFIXES = ("98", "97", "99", "94", "70", "90", "91", "93", "95", "96")
FIRST_NAMES = ("Ramesh", "Suresh", "Sita", "Geeta", "Mohan", "Anita", "Rajesh", "Sunita",
               "राम", "सीता", "गोपाल", "लक्ष्मी", "Imran", "Fatima", "Harpreet", "Joseph")
LAST_NAMES = ("Kumar", "Sharma", "Verma", "Patel", "Yadav", "Singh", "Khan", "Jain",
              "शर्मा", "वर्मा", "Chouhan", "Malviya", "Rathore", "D'Souza")
TARIFFS = ("LV1.1", "LV1.2", "LV2.1", "LV2.2", "LV3", "LV5.1", "HV3")
DIVISIONS = ("Indore City East", "Indore City West", "Indore North", "Indore South", "Dewas",
             "Ujjain", "Ratlam", "Mandsaur", "Neemuch", "Khandwa", "Khargone", "Dhar")
RELAY_STATES = (("connected", 900), ("disconnected", 70), ("ready_for_reconnection", 20),
                ("unknown", 10))
CURRENT_MONTHS = (("2026-09", "2026-10-10"), ("2026-10", "2026-11-10"))
ARREARS_MONTH = ("2026-08", "2026-09-10")


# --- data ------------------------------------------------------------------------------------


def generate(directory: Path, consumers: int, seed: int) -> dict[str, Path]:
    rng = random.Random(seed)
    paths = {kind: directory / f"{kind}.csv" for kind in ("consumers", "meters", "bills")}
    with (paths["consumers"].open("w", newline="", encoding="utf-8") as c_file,
          paths["meters"].open("w", newline="", encoding="utf-8") as m_file,
          paths["bills"].open("w", newline="", encoding="utf-8") as b_file):
        c_out, m_out, b_out = csv.writer(c_file), csv.writer(m_file), csv.writer(b_file)
        c_out.writerow(("consumer_no", "name", "mobile", "tariff_category", "division"))
        m_out.writerow(("meter_id", "consumer_no", "remote_switch", "relay_state"))
        b_out.writerow(("consumer_no", "bill_month", "amount", "due_date"))
        states, weights = zip(*RELAY_STATES, strict=True)
        for i in range(consumers):
            consumer_no = str(FIRST_CONSUMER_NO + i)
            c_out.writerow((consumer_no, _name(rng), _mobile(rng, i), rng.choice(TARIFFS),
                            rng.choice(DIVISIONS)))
            m_out.writerow((f"MPW{i:09d}", consumer_no, rng.random() < 0.95,
                            rng.choices(states, weights)[0]))
            months = ((ARREARS_MONTH,) if rng.random() < 0.15 else ()) + CURRENT_MONTHS
            for month, due in months:
                b_out.writerow((consumer_no, month, _amount(rng, i), due))
    return paths


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _mobile(rng: random.Random, i: int) -> str:
    if i % BAD_EVERY == 7:
        return "12345"  # bad on purpose: a warning, the consumer imported without a mobile
    roll = rng.random()
    if roll < 0.2:
        return ""
    national = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    return "+91" + national if roll < 0.5 else national


def _amount(rng: random.Random, i: int) -> str:
    if i % BAD_EVERY == 11:
        return "12.345"  # bad on purpose
    paise = rng.randrange(5_000, 1_500_000)
    return f"{paise // 100}.{paise % 100:02d}" if paise % 7 else str(paise // 100)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


# --- databases -------------------------------------------------------------------------------


async def prepare_postgres(url: str) -> None:
    """Create the database if missing; drop and rebuild its (empty) schema."""
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                      parsed.database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await db.dispose()


def database_url(engine: str, args: argparse.Namespace, workdir: Path) -> str:
    if engine == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'bijli.db'}"
    if engine == "postgresql":
        return args.pg_url
    raise SystemExit(f"unknown engine {engine!r}: sqlite or postgresql")


BASELINE_INSERT = {
    "sqlite": "INSERT INTO bench_baseline (consumer_no, name, mobile, tariff_category, division)"
              " VALUES (?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO bench_baseline (consumer_no, name, mobile, tariff_category,"
                  " division) VALUES ($1, $2, $3, $4, $5)",
}


# --- measurements ----------------------------------------------------------------------------


def csv_parse_rate(path: Path) -> float:
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    return rows / (time.perf_counter() - started)


async def baseline_insert_rate(db: Database, path: Path, batch_size: int) -> float:
    """Consumer rows through the driver's own executemany: no validation, no upsert."""
    async with db.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        postgres = db.dialect == "postgresql"
        insert = BASELINE_INSERT["postgresql" if postgres else "sqlite"]
        await _driver_execute(raw, postgres, "DROP TABLE IF EXISTS bench_baseline")
        await _driver_execute(raw, postgres, (
            "CREATE TABLE bench_baseline (id INTEGER PRIMARY KEY, consumer_no VARCHAR(20)"
            " UNIQUE NOT NULL, name VARCHAR(120), mobile VARCHAR(16),"
            " tariff_category VARCHAR(20), division VARCHAR(60))"
            if not postgres else
            "CREATE TABLE bench_baseline (id BIGINT GENERATED BY DEFAULT AS IDENTITY"
            " PRIMARY KEY, consumer_no VARCHAR(20) UNIQUE NOT NULL, name VARCHAR(120),"
            " mobile VARCHAR(16), tariff_category VARCHAR(20), division VARCHAR(60))"))
        started = time.perf_counter()
        rows = 0
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch: list[list[str]] = []
            for record in reader:
                batch.append(record)
                if len(batch) == batch_size:
                    rows += await _driver_batch(raw, postgres, insert, batch)
                    batch = []
            rows += await _driver_batch(raw, postgres, insert, batch)
        elapsed = time.perf_counter() - started
        await _driver_execute(raw, postgres, "DROP TABLE bench_baseline")
    return rows / elapsed


async def _driver_execute(raw: Any, postgres: bool, sql: str) -> None:
    if postgres:
        await raw.execute(sql)
    else:
        await raw.execute(sql)
        await raw.commit()


async def _driver_batch(raw: Any, postgres: bool, sql: str, batch: list[list[str]]) -> int:
    if not batch:
        return 0
    if postgres:
        async with raw.transaction():
            await raw.executemany(sql, batch)
    else:
        await raw.execute("BEGIN IMMEDIATE")
        await raw.executemany(sql, batch)
        await raw.commit()
    return len(batch)


async def timed_import(db: Database, kind: Any, path: Path, batch_size: int,
                       progress: Callable[[int], None] | None = None
                       ) -> tuple[ImportReport, float]:
    started = time.perf_counter()
    report = await import_csv(db, kind, path, batch_size=batch_size, on_progress=progress)
    return report, time.perf_counter() - started


def show(label: str, report: ImportReport, seconds: float) -> None:
    print(f"  {label:<18} {report.rows_read:>9,} rows in {seconds:7.1f} s  "
          f"{report.rows_read / seconds:>9,.0f} rows/s   written {report.rows_written:,}"
          f"  unchanged {report.rows_unchanged:,}  rejected {len(report.errors):,}"
          f"  warnings {len(report.warnings):,}")


async def bench_engine(engine: str, url: str, paths: dict[str, Path], batch_size: int) -> None:
    if engine == "postgresql":
        await prepare_postgres(url)
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    db = Database(url)
    try:
        print(f"\n{engine}: {url}")
        rates = {}
        for kind in ("consumers", "meters", "bills"):
            report, seconds = await timed_import(db, kind, paths[kind], batch_size)
            show(kind, report, seconds)
            rates[kind] = report.rows_read / seconds
        report, seconds = await timed_import(db, "bills", paths["bills"], batch_size)
        show("bills (re-run)", report, seconds)
        baseline = await baseline_insert_rate(db, paths["consumers"], batch_size)
        print(f"  baseline: raw executemany of the consumer rows {baseline:>9,.0f} rows/s")
        print(f"  ratio importer/baseline (consumers): {rates['consumers'] / baseline:.2f}")
        async with db.engine.connect() as connection:
            for table in ("consumers", "meters", "ledger_entries"):
                rows = await connection.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
                print(f"  {table:<15} {rows:>10,} rows")
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--consumers", type=int, default=725_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--keep", action=argparse.BooleanOptionalAction, default=True,
                        help="leave the populated databases in place (default)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bijli-import-bench-"))
    csv_dir = workdir / "csv"
    csv_dir.mkdir()
    started = time.perf_counter()
    paths = generate(csv_dir, args.consumers, args.seed)
    print(f"generated {args.consumers:,} consumers in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{kind} {count_lines(path):,} rows" for kind, path in paths.items()))
    print(f"plain csv parsing (consumers.csv): {csv_parse_rate(paths['consumers']):,.0f} rows/s")

    urls = []
    for engine in [name.strip() for name in args.engines.split(",") if name.strip()]:
        url = database_url(engine, args, workdir)
        await bench_engine(engine, url, paths, args.batch_size)
        urls.append(url)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak_mb:,.0f} MB")
    shutil.rmtree(csv_dir)
    if args.keep:
        print("databases kept for bench/dues_lookup.py:")
        for url in urls:
            print(f"  .venv/bin/python bench/dues_lookup.py --url {url}")
    else:
        shutil.rmtree(workdir)
        if any(url.startswith("postgresql") for url in urls):
            await prepare_postgres(args.pg_url)
        print("databases removed (--no-keep)")


if __name__ == "__main__":
    asyncio.run(main())
