"""Payment → reconnection latency under a sustained stream of signed Razorpay webhooks.

Run (by hand; never part of the tests):

    .venv/bin/python bench/reconnect_latency.py                # PostgreSQL, 50/s for 20 s
    .venv/bin/python bench/reconnect_latency.py --workers 2    # + 2 `bijli worker` processes
    .venv/bin/python bench/reconnect_latency.py --url sqlite+aiosqlite:////tmp/bijli-bench-reconnect.db
    .venv/bin/python bench/reconnect_latency.py --rate 100 --seconds 30 --concurrency 64

What it does:

1. A fresh database (`--url`; PostgreSQL is created if missing and its schema dropped and
   rebuilt; a SQLite file is deleted) migrated to head by `discom.schema.upgrade`, plus a
   scratch table for the baseline.
2. Bulk-seeds consumers cut for non-payment: one overdue bill each, a meter disconnected for
   non-payment, a console chat, and an open payment link for exactly the dues — created in a
   local `PaymentSandbox`, so the webhook bodies below have Razorpay's real shape.
3. Starts the HES simulator in a process of its own (this file with `--serve-hes`; zero
   latency), as a real head-end is another system: Bijli reaches it at HES_BASE_URL over
   HTTP and it posts its results to Bijli's /webhooks/hes. A bench-only route dumps its
   commands (meter id, creation time). Then the app under uvicorn in a subprocess (this file
   with `--serve`) with the payment sandbox and the worker in-process (`--workers 0`, the
   default) or in N `bijli worker` subprocesses; a bench-only route does one INSERT into the
   scratch table (the baseline).
4. Baseline: the bare endpoint at `--rate` for `--seconds`, then at max throughput
   (`--concurrency` requests in flight, `--max-seconds`).
5. Bijli: signed `payment_link.paid` webhooks at `--rate` for `--seconds` over real HTTP
   (open loop: a slow answer does not slow the offered rate). Measured per payment:
   webhook sent → the HES simulator created the `connect` command (SimCommand.created_at),
   and webhook sent → the "supply_restored" outbox row was written (its created_at); plus
   the webhook's HTTP latency and the achieved webhooks/s. Then Bijli's webhooks at max
   throughput, for the ratio to the bare endpoint.

Target (printed as met or not): p99 webhook → HES command < 1 s at 50 payments/s on
PostgreSQL. Clocks: every timestamp compared is wall-clock time on this one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi import Request
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.import_bench import prepare_postgres  # noqa: E402
from discom.db import Database, PoolSettings  # noqa: E402
from discom.models import (  # noqa: E402
    Chat,
    Consumer,
    LedgerEntry,
    Meter,
    OutboundMessage,
    PaymentLink,
    ReconnectionOrder,
)
from discom.payments.sandbox import PaymentSandbox, WebhookEvent  # noqa: E402
from discom.payments.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign  # noqa: E402
from discom.settings import SANDBOX_RAZORPAY_WEBHOOK_SECRET  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bijli_bench_reconnect"
BILL_PAISE = 1_650_00
SCRATCH = "bench_scratch"
TARGET_P99_SECONDS = 1.0
WARM_UP = 40


# --- the server (this file with --serve, in its own process) -----------------------------------

def serve(url: str, port: int, public_base_url: str, hes_url: str, run_worker: bool) -> None:
    import uvicorn

    from api.app import create_app
    from api.logging import configure_logging
    from discom.settings import Settings

    configure_logging("WARNING")
    settings = Settings(bijli_env="test", database_url=url, public_base_url=public_base_url,
                        hes_base_url=hes_url, default_language="en", log_level="WARNING",
                        data_encryption_key=os.environ["BENCH_DATA_KEY"])
    app = create_app(settings, run_worker=run_worker)
    services = app.state.services
    statement = text(f"INSERT INTO {SCRATCH} (created_at, note) VALUES (:at, :note)")  # noqa: S608

    async def bare(request: Request) -> dict[str, str]:
        """The baseline: read the body, one INSERT in its own transaction, answer."""
        body = await request.body()
        async with services.db.uow() as uow:
            await uow.session.execute(statement, {"at": datetime.now(UTC).replace(tzinfo=None),
                                                  "note": str(len(body))})
            await uow.commit()
        return {"status": "ok"}

    app.add_api_route("/bench/bare", bare, methods=["POST"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_hes(url: str, port: int, bijli_url: str) -> None:
    """The HES simulator alone, as the head-end Bijli talks to (its own process and loop)."""
    import uvicorn

    from api.logging import configure_logging
    from api.sandboxes.hes import hes_simulator_app
    from discom.hes.directory import DatabaseMeterDirectory
    from discom.hes.simulator import HesSimulator, SimulatorConfig
    from discom.settings import SIMULATOR_HES_API_KEY, SIMULATOR_HES_WEBHOOK_SECRET

    configure_logging("WARNING")
    simulator = HesSimulator(
        DatabaseMeterDirectory(Database(url, PoolSettings(application_name="hes-simulator"))),
        httpx.AsyncClient(timeout=10),
        SIMULATOR_HES_WEBHOOK_SECRET, config=SimulatorConfig(latency=0.0),
        event_url=f"{bijli_url}/webhooks/hes")
    app = hes_simulator_app(simulator, SIMULATOR_HES_API_KEY)

    async def commands() -> list[dict[str, Any]]:
        return [{"meter_id": c.meter_id, "created_at": c.created_at.isoformat()}
                for c in list(simulator.commands)]

    app.add_api_route("/bench/commands", commands, methods=["GET"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the database ---------------------------------------------------------------------------

def _delete_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def prepare_database(url: str) -> None:
    from discom.schema import upgrade

    if url.startswith("sqlite"):
        _delete_sqlite(Path(make_url(url).database or ""))
    else:
        await prepare_postgres(url)
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        key = ("INTEGER PRIMARY KEY AUTOINCREMENT" if url.startswith("sqlite")
               else "BIGSERIAL PRIMARY KEY")
        async with db.engine.begin() as connection:
            await connection.execute(text(
                f"CREATE TABLE {SCRATCH} (id {key}, created_at TIMESTAMP, note VARCHAR(40))"))
    finally:
        await db.dispose()


@dataclass
class Payer:
    consumer_no: str
    meter_id: str
    event: WebhookEvent  # the signed-to-be payment_link.paid, pre-built


async def seed(db: Database, sandbox: PaymentSandbox, count: int, public_base_url: str
               ) -> list[Payer]:
    """`count` consumers cut for non-payment, each with an open link for exactly its dues."""
    now = datetime.now(UTC)
    numbers = [f"{3_000_000_001 + n}" for n in range(count)]
    payers: list[Payer] = []
    batch = 2000
    for start in range(0, count, batch):
        chunk = numbers[start:start + batch]
        async with db.uow() as uow:
            session = uow.session
            rows = (await session.execute(insert(Consumer).returning(
                Consumer.id, Consumer.consumer_no), [
                {"consumer_no": no, "name": f"Bench {no}", "mobile": None,
                 "tariff_category": "LV1", "division": "Indore City East"} for no in chunk])).all()
            ids = {no: consumer_id for consumer_id, no in rows}
            chats = (await session.execute(insert(Chat).returning(Chat.id, Chat.external_id), [
                {"channel": "console", "external_id": f"bench-{no}", "language": "en",
                 "language_chosen": True, "created_at": now, "last_inbound_at": now}
                for no in chunk])).all()
            chat_ids = {ref.removeprefix("bench-"): chat_id for chat_id, ref in chats}
            await session.execute(insert(Meter), [
                {"meter_id": f"BM{no}", "consumer_id": ids[no], "remote_switch": True,
                 "relay_state": "disconnected", "relay_reason": "non_payment",
                 "relay_changed_at": now - timedelta(days=2),
                 "last_seen_at": now - timedelta(days=2)} for no in chunk])
            await session.execute(insert(LedgerEntry), [
                {"consumer_id": ids[no], "kind": "bill", "amount_paise": BILL_PAISE,
                 "bill_month": "2026-10", "due_date": date(2026, 11, 10),
                 "idempotency_key": f"bill/{no}/2026-10", "posted_at": now - timedelta(days=40)}
                for no in chunk])
            links = []
            for no in chunk:
                link = sandbox.create_link({
                    "amount": BILL_PAISE, "currency": "INR", "reference_id": f"bench-{no}",
                    "description": f"Electricity dues {no}", "notes": {"consumer_no": no},
                    "expire_by": int((now + timedelta(days=1)).timestamp()),
                    "callback_url": f"{public_base_url}/paid", "callback_method": "get"})
                links.append({
                    "consumer_id": ids[no], "chat_id": chat_ids[no],
                    "provider_link_id": link["id"], "reference_id": link["reference_id"],
                    "amount_paise": BILL_PAISE, "amount_paid_paise": 0, "status": "created",
                    "short_url": link["short_url"], "expire_by": now + timedelta(days=1),
                    "created_at": now, "updated_at": now})
                paid = [e for e in sandbox.pay(link["id"]).events
                        if e.event == "payment_link.paid"]
                payers.append(Payer(no, f"BM{no}", paid[0]))
            await session.execute(insert(PaymentLink), links)
            await uow.commit()
    return payers


# --- load ---------------------------------------------------------------------------------------

@dataclass
class Shot:
    sent: float  # wall clock (time.time()) just before the request went out
    seconds: float  # HTTP round trip
    status: int | None


@dataclass
class Phase:
    label: str
    shots: list[Shot] = field(default_factory=list)
    wall: float = 0.0

    @property
    def ok(self) -> list[Shot]:
        return [s for s in self.shots if s.status is not None and 200 <= s.status < 300]

    @property
    def rate(self) -> float:
        return len(self.ok) / self.wall if self.wall else 0.0


Call = Callable[[], Awaitable[int]]


async def timed(request: Call) -> Shot:
    sent, started = time.time(), time.perf_counter()
    try:
        status: int | None = await request()
    except httpx.HTTPError:
        status = None
    return Shot(sent, time.perf_counter() - started, status)


async def at_rate(label: str, requests: list[Call], rate: float) -> Phase:
    """Open loop: request i goes out at start + i/rate whatever the earlier ones are doing."""
    phase = Phase(label)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for i, request in enumerate(requests):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(request)))
    phase.shots = list(await asyncio.gather(*tasks))
    phase.wall = loop.time() - start
    return phase


async def flat_out(label: str, next_request: Callable[[], Call | None], concurrency: int,
                   seconds: float) -> Phase:
    """Closed loop: `concurrency` requests in flight until `seconds` pass (or none are left)."""
    phase = Phase(label)
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop = start + seconds

    async def lane() -> None:
        while loop.time() < stop:
            request = next_request()
            if request is None:
                return
            phase.shots.append(await timed(request))

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    phase.wall = loop.time() - start
    return phase


def webhook(client: httpx.AsyncClient, event: WebhookEvent, secret: str) -> Call:
    async def post() -> int:
        response = await client.post("/webhooks/razorpay", content=event.body, headers={
            SIGNATURE_HEADER: sign(event.body, secret), EVENT_ID_HEADER: event.id,
            "Content-Type": "application/json"})
        return response.status_code
    return post


def bare(client: httpx.AsyncClient, n: int) -> Call:
    body = b'{"n": %d}' % n

    async def post() -> int:
        response = await client.post("/bench/bare", content=body,
                                     headers={"Content-Type": "application/json"})
        return response.status_code
    return post


# --- figures ------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (backends included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class CpuMeter:
    """CPU seconds spent by each bench process (and PostgreSQL) between start and stop,
    counted per process from its CPU time at start (0 for one started meanwhile, such as a
    backend for a new pooled connection). A process that exited meanwhile reads 0 and is
    not counted: its CPU is lost (an undercount)."""

    pids: dict[str, list[int]]
    spent: dict[str, float] = field(default_factory=dict)
    _at_start: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        self.pids["postgresql"] = postgres_pids()
        self._at_start = {pid: cpu_seconds(pid) for pids in self.pids.values() for pid in pids}

    def stop(self) -> None:
        self.pids["postgresql"] = sorted(set(self.pids["postgresql"]) | set(postgres_pids()))
        self.spent = {name: sum(max(0.0, cpu_seconds(pid) - self._at_start.get(pid, 0.0))
                                for pid in pids)
                      for name, pids in self.pids.items()}

    def per_payment_line(self, payments: int) -> str:
        parts = [f"{name} {1000 * seconds / payments:.1f}"
                 for name, seconds in self.spent.items()]
        total = 1000 * sum(self.spent.values()) / payments
        return f"  CPU ms per payment: {', '.join(parts)}; all {total:.1f}"


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


def line(label: str, seconds: list[float], extra: str = "") -> str:
    if not seconds:
        return f"  {label:<30} no samples {extra}"
    ms = [s * 1000 for s in seconds]
    return (f"  {label:<30} p50 {statistics.median(ms):8.1f} ms   p99 {pct(ms, 0.99):8.1f} ms"
            f"   max {max(ms):8.1f} ms   n={len(ms)} {extra}")


def http_line(phase: Phase) -> str:
    errors = len(phase.shots) - len(phase.ok)
    return line(phase.label, [s.seconds for s in phase.ok],
                f"  achieved {phase.rate:7.1f}/s  errors {errors}")


async def restored_times(db: Database, numbers: set[str]) -> dict[str, datetime]:
    async with db.uow() as uow:
        rows = (await uow.session.execute(
            select(Consumer.consumer_no, OutboundMessage.created_at)
            .join(Consumer, Consumer.id == OutboundMessage.consumer_id)
            .where(OutboundMessage.kind == "supply_restored"))).all()
    return {no: at for no, at in rows if no in numbers}


async def order_counts(db: Database) -> dict[str, int]:
    async with db.uow() as uow:
        rows = (await uow.session.execute(
            select(ReconnectionOrder.status, text("count(*)"))
            .group_by(ReconnectionOrder.status))).all()
    return dict(rows)


# --- the run --------------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_processes(args: argparse.Namespace, port: int, hes_port: int
                    ) -> list[subprocess.Popen]:
    """The HES simulator, the server, then the workers (the server first in the list)."""
    base, hes = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{hes_port}"
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    # A throwaway key, so no process writes a development key file anywhere.
    key = Fernet.generate_key().decode()

    def bench_process(name: str, *argv: str) -> subprocess.Popen:
        log = (logs / f"{name}.log").open("wb")
        return subprocess.Popen(  # noqa: S603
            [sys.executable, __file__, *argv, "--url", args.url], cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "BENCH_DATA_KEY": key})

    server = bench_process(
        "server", "--serve", "--port", str(port), "--hes-port", str(hes_port),
        "--in-process-worker" if args.workers == 0 else "--no-worker")
    simulator = bench_process("hes", "--serve-hes", "--port", str(hes_port),
                              "--bijli-port", str(port))
    processes = [server, simulator]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DATABASE_URL": args.url, "PUBLIC_BASE_URL": base, "HES_BASE_URL": hes,
                "BIJLI_ENV": "test", "LOG_LEVEL": "WARNING", "DEFAULT_LANGUAGE": "en",
                "DATA_ENCRYPTION_KEY": key})
    for n in range(args.workers):
        worker_log = (logs / f"worker-{n + 1}.log").open("wb")
        processes.append(subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).with_name("bijli")), "worker"], cwd=logs, env=env,
            stdout=worker_log, stderr=subprocess.STDOUT))
    return processes


async def wait_ready(base: str, processes: list[subprocess.Popen], path: str = "/healthz"
                     ) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a bench process exited; see its log")
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not become ready within 60 s")


async def run(args: argparse.Namespace) -> None:
    engine = "sqlite" if args.url.startswith("sqlite") else "postgresql"
    port, hes_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    fixed = int(args.rate * args.seconds)
    print(f"preparing {engine} database and seeding {fixed} + {args.max_pool} consumers ...",
          flush=True)
    await prepare_database(args.url)
    db = Database(args.url)
    sandbox = PaymentSandbox(public_base_url=base)
    started = time.perf_counter()
    payers = await seed(db, sandbox, fixed + args.max_pool, base)
    print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
    at_fixed_rate, spare = payers[:fixed], iter(payers[fixed:])
    secret = SANDBOX_RAZORPAY_WEBHOOK_SECRET
    processes = start_processes(args, port, hes_port)
    limits = httpx.Limits(max_connections=args.concurrency + 200,
                          max_keepalive_connections=args.concurrency + 200)
    try:
        await wait_ready(base, processes)
        await wait_ready(f"http://127.0.0.1:{hes_port}", processes, "/bench/commands")
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            # Warm-up: connections, both code paths, the pools (these payers are not measured).
            await at_rate("warm-up", [bare(client, n) for n in range(50)], 100)
            warm = [next(spare) for _ in range(min(WARM_UP, args.max_pool // 2))]
            await at_rate("warm-up", [webhook(client, p.event, secret) for p in warm], 20)
            await asyncio.sleep(2)

            bare_rate = await at_rate(f"bare INSERT @ {args.rate:g}/s",
                                      [bare(client, n) for n in range(fixed)], args.rate)
            counter = iter(range(10**9))
            bare_max = await flat_out(
                f"bare INSERT, {args.concurrency} in flight",
                lambda: bare(client, next(counter)), args.concurrency, args.max_seconds)

            cpu = CpuMeter({"load generator": [os.getpid()], "server": [processes[0].pid],
                            "HES simulator": [processes[1].pid],
                            "workers": [p.pid for p in processes[2:]]})
            cpu.start()
            sends = await at_rate(
                f"webhook @ {args.rate:g}/s",
                [webhook(client, p.event, secret) for p in at_fixed_rate], args.rate)
            sent_at = {p.consumer_no: datetime.fromtimestamp(s.sent, UTC)
                       for p, s in zip(at_fixed_rate, sends.shots, strict=True)}
            numbers = set(sent_at)
            deadline = time.monotonic() + args.settle
            restored: dict[str, datetime] = {}
            while time.monotonic() < deadline:
                restored = await restored_times(db, numbers)
                if len(restored) == len(numbers):
                    break
                await asyncio.sleep(0.5)
            cpu.stop()
            commands = (await client.get(f"http://127.0.0.1:{hes_port}/bench/commands")).json()

            def next_webhook() -> Call | None:
                payer = next(spare, None)
                return None if payer is None else webhook(client, payer.event, secret)

            bijli_max = await flat_out(f"webhook, {args.concurrency} in flight", next_webhook,
                                       args.concurrency, args.max_seconds)
        orders = await order_counts(db)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        await db.dispose()

    meter_to_no = {p.meter_id: p.consumer_no for p in at_fixed_rate}
    command_at: dict[str, datetime] = {}
    for command in commands:
        no = meter_to_no.get(command["meter_id"])
        if no is not None:
            command_at.setdefault(no, datetime.fromisoformat(command["created_at"]))
    to_command = [(command_at[no] - sent_at[no]).total_seconds() for no in command_at]
    to_restored = [(restored[no] - sent_at[no]).total_seconds() for no in restored]

    workers = "in-process" if args.workers == 0 else f"{args.workers} subprocess(es)"
    print(f"\nBijli reconnect latency — {engine}, worker {workers}, HES simulator in its own "
          "process, latency 0")
    print(f"offered {args.rate:g} payments/s for {args.seconds:g} s ({fixed} signed "
          f"payment_link.paid webhooks over HTTP)")
    print(http_line(sends))
    print(line("webhook → HES command", to_command,
               f"  missing {len(numbers) - len(to_command)}"))
    print(line("webhook → supply_restored row", to_restored,
               f"  missing {len(numbers) - len(to_restored)}"))
    print(cpu.per_payment_line(len(numbers)) + " (from the first webhook to the last "
          "supply_restored row)")
    print("baseline, same server: a bare FastAPI endpoint doing one INSERT")
    print(http_line(bare_rate))
    print(http_line(bare_max))
    print("max throughput")
    print(http_line(bijli_max))
    ratio = bijli_max.rate / bare_max.rate if bare_max.rate else float("nan")
    print(f"  ratio Bijli webhook / bare endpoint throughput: {ratio:.2f} "
          f"({bijli_max.rate:.0f}/s vs {bare_max.rate:.0f}/s); at {args.rate:g}/s: "
          f"{sends.rate:.1f}/s vs {bare_rate.rate:.1f}/s")
    print(f"orders by status at the end: {orders}")
    if to_command:
        p99 = pct(to_command, 0.99)
        complete = len(to_command) == len(numbers)
        target = (f"target p99 webhook → HES command < {TARGET_P99_SECONDS:g} s at 50/s on "
                  f"PostgreSQL: p99 {p99 * 1000:.0f} ms at {args.rate:g}/s on {engine}")
        if engine != "postgresql" or args.rate < 50:
            print(f"{target} — not evaluated (the target is for PostgreSQL at ≥ 50/s)")
        else:
            met = p99 < TARGET_P99_SECONDS and complete
            print(f"{target}{'' if complete else ' (commands missing)'} — "
                  f"{'MET' if met else 'NOT MET'}")
    print(f"(server, HES and worker logs in {args.logs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="database (PostgreSQL or SQLite)")
    parser.add_argument("--rate", type=float, default=50.0, help="payments per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="at --rate, for this long")
    parser.add_argument("--workers", type=int, default=0,
                        help="0: worker in the server process; N: N `bijli worker` processes")
    parser.add_argument("--concurrency", type=int, default=32, help="max-throughput phases")
    parser.add_argument("--max-seconds", type=float, default=10.0,
                        help="length of each max-throughput phase")
    parser.add_argument("--max-pool", type=int, default=6000,
                        help="extra consumers seeded for the webhook max-throughput phase")
    parser.add_argument("--settle", type=float, default=120.0,
                        help="how long to wait for every supply_restored row")
    parser.add_argument("--logs", default=str(Path(tempfile.gettempdir())
                                                     / "bijli-bench-reconnect-logs"))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hes-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bijli-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-hes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-process-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.url, args.port, f"http://127.0.0.1:{args.port}",
              f"http://127.0.0.1:{args.hes_port}", args.in_process_worker)
        return
    if args.serve_hes:
        serve_hes(args.url, args.port, f"http://127.0.0.1:{args.bijli_port}")
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
