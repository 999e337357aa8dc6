"""Reminder fan-out at discom scale: 7.25 lakh consumers, enqueue time and sending rates.

Run (by hand; never part of the tests):

    .venv/bin/python bench/reminder_fanout.py                       # 725_000 consumers, PostgreSQL
    .venv/bin/python bench/reminder_fanout.py --consumers 50000 --seconds 15
    .venv/bin/python bench/reminder_fanout.py --rates telegram=30,whatsapp=50,sms=100
    .venv/bin/python bench/reminder_fanout.py --reuse               # skip the load, same data

What it does:

1. Load: a fresh PostgreSQL database (`--pg-url`, created if missing, schema rebuilt by
   Alembic) filled by the real CSV importer with `bench/import_bench.py`'s generator:
   consumers (a fifth without a mobile), a meter each, two or three months of bills. Then
   chats, bulk-copied: `--telegram` of the consumers linked to a Telegram chat, `--whatsapp`
   to a WhatsApp chat (half of them wrote in the last 24 hours, half three days ago), the
   rest reachable by SMS at their registered mobile, if they have one.
2. Enqueue: `discom.reminders.enqueue_reminders` at a moment when everyone's latest bill is
   due within three days (the generator's bills are due 2026-11-10; "now" is 2026-11-08
   10:30 IST) — one "bill due" reminder per consumer with dues, routed to the chat they use,
   else SMS (SMS chats opened in bulk). Target: under 60 s. Run again: nothing new.
3. Send: for `--seconds`, each channel's sender as the worker runs it (discom.notify.sender
   with its Pacer and ChannelLease), twice per channel — two "worker processes", each with
   its own engine — against fake provider servers on 127.0.0.1 (tests/fakes: the Bot API for
   Telegram through python-telegram-bot, Twilio's Messages API through the twilio client).
   The fake servers run in a subprocess of their own (so their request handling does not
   compete with the senders for this process's GIL). Measured: messages (SMS: segments) per
   second at the fake servers over the run, against the configured limit (target ≥ 95 %),
   and the busiest one-second window as the sends left Bijli (never above) and as they
   arrived at the fake servers (arrival jitter can bunch them: the reason for the pacer's
   2 % headroom).
4. Prints how long the whole fan-out would take for real at the providers' limits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.import_bench import generate, prepare_postgres
from bot.channels.messengers import TelegramMessenger
from bot.channels.sms import SmsMessenger
from bot.channels.whatsapp import WhatsAppMessenger
from discom.db import Database
from discom.importer import import_csv
from discom.models import Chat, Consumer, OutboundMessage
from discom.notify.pacing import ChannelLease, Pacer
from discom.notify.routing import Routing, configure_routing
from discom.notify.sender import OutboxSender, SenderConfig
from discom.notify.twilio_messages import TwilioMessages
from discom.reminders import ReminderPolicy, enqueue_reminders
from discom.schema import upgrade
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, FakeTwilioAPI

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bijli_bench_fanout"
NOW = datetime(2026, 11, 8, 5, 0, tzinfo=UTC)  # 10:30 IST; the bills are due 2026-11-10
WHATSAPP_FROM = "whatsapp:+14155238886"
TEMPLATES = {"bill_due": {"hi": "HX" + "1" * 32, "en": "HX" + "2" * 32}}
DLT_IDS = {"bill_due": "1107160000000000001"}
# What the providers allow today without special arrangements, and with them.
TODAY = {"telegram": (30, "30 msg/s per bot"),
         "whatsapp": (10, "10 msg/s per sender (Twilio default; 50 on request)"),
         "sms": (10, "10 segments/s (a typical sender; more by arrangement)")}
WHATSAPP_TIERS = (10_000, 100_000)  # business-initiated unique recipients per 24 h


def parse_rates(text: str) -> dict[str, float]:
    rates = {"telegram": 25.0, "whatsapp": 10.0, "sms": 10.0}  # Bijli's defaults
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        rates[name.strip()] = float(value)
    return rates


# --- 1. load ----------------------------------------------------------------------------------


async def load(url: str, consumers: int, seed: int) -> None:
    await prepare_postgres(url)
    await asyncio.to_thread(upgrade, url)
    workdir = Path(tempfile.mkdtemp(prefix="bijli-fanout-"))
    try:
        started = time.perf_counter()
        paths = generate(workdir, consumers, seed)
        print(f"generated {consumers:,} consumers' CSVs in {time.perf_counter() - started:.1f} s")
        db = Database(url)
        try:
            for kind in ("consumers", "meters", "bills"):
                started = time.perf_counter()
                report = await import_csv(db, kind, paths[kind], batch_size=10_000)
                print(f"  imported {kind:<9} {report.rows_written:>9,} rows in "
                      f"{time.perf_counter() - started:6.1f} s")
        finally:
            await db.dispose()
    finally:
        shutil.rmtree(workdir)


async def add_chats(db: Database, telegram: float, whatsapp: float, seed: int) -> Counter:
    """Telegram and WhatsApp chats linked to a share of the consumers, by COPY."""
    rng = random.Random(seed)
    async with db.uow() as uow:
        consumers = (await uow.session.execute(
            select(Consumer.id, Consumer.mobile).order_by(Consumer.id))).all()
    chats, links, made, numbers = [], [], Counter(), set()
    for n, (consumer_id, mobile) in enumerate(consumers):
        roll = rng.random()
        if roll < telegram:
            channel, external = "telegram", str(5_000_000_000 + n)
        elif roll < telegram + whatsapp:
            # Their registered mobile, unless another account has it too (one WhatsApp chat
            # per number): then a number of their own.
            external = mobile if mobile and mobile not in numbers else f"+9160{n:08d}"
            channel = "whatsapp"
            numbers.add(external)
        else:
            continue
        recent = rng.random() < 0.5
        last = NOW - (timedelta(hours=2) if recent else timedelta(days=3))
        chats.append((channel, external, "hi" if rng.random() < 0.7 else "en", True, last, last))
        links.append((channel, external, consumer_id))
        made[channel] += 1
    async with db.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(
            "chats", records=chats,
            columns=["channel", "external_id", "language", "language_chosen", "created_at",
                     "last_inbound_at"])
        ids = {(row["channel"], row["external_id"]): row["id"] for row in await raw.fetch(
            "SELECT id, channel, external_id FROM chats")}
        await raw.copy_records_to_table(
            "chat_accounts", records=[(ids[(c, e)], consumer_id, NOW)
                                      for c, e, consumer_id in links],
            columns=["chat_id", "consumer_id", "linked_at"])
        await connection.commit()
    return made


# --- 3. send ----------------------------------------------------------------------------------


class Clock:
    """The bench's "now": NOW, moving at the speed of real time."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - self._started)


class ArrivalTimes:
    """ASGI middleware recording when each Bot API send arrived at the fake Telegram."""

    def __init__(self, app: Any) -> None:
        self.app, self.times = app, []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/sendMessage"):
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


class Timed:
    """A messenger that notes when each send left Bijli (and its cost: SMS segments)."""

    def __init__(self, messenger: Any, times: list[tuple[float, float]]) -> None:
        self._messenger, self.times = messenger, times

    def cost(self, note: Any) -> float:
        return self._messenger.cost(note) if hasattr(self._messenger, "cost") else 1.0

    async def deliver(self, note: Any) -> Any:
        self.times.append((time.monotonic(), self.cost(note)))
        return await self._messenger.deliver(note)


def busiest_second(events: list[tuple[float, float]]) -> float:
    """The largest total weight (messages or segments) inside any one-second window."""
    events = sorted(events)
    best = total = 0.0
    start = 0
    for at, weight in events:
        total += weight
        while at - events[start][0] >= 1.0:
            total -= events[start][1]
            start += 1
        best = max(best, total)
    return best


async def send_for(url: str, seconds: float, rates: dict[str, float], fakes: dict[str, str],
                   processes: int) -> dict[str, Any]:
    from telegram.ext import AIORateLimiter, ExtBot

    clock = Clock()
    bot = ExtBot(FakeTelegramAPI().token, base_url=fakes["telegram"],
                 rate_limiter=AIORateLimiter(overall_max_rate=30, overall_time_period=1,
                                             max_retries=0))
    await bot.initialize()
    twilio = TwilioMessages(ACCOUNT_SID, AUTH_TOKEN, api_base_url=fakes["twilio"],
                            status_callback="https://bijli.example.in/webhooks/twilio/status")
    left: dict[str, list[tuple[float, float]]] = {"telegram": [], "whatsapp": [], "sms": []}
    messengers = {
        "telegram": Timed(TelegramMessenger(bot), left["telegram"]),
        "whatsapp": Timed(WhatsAppMessenger(twilio, WHATSAPP_FROM, TEMPLATES, None,
                                            clock=clock), left["whatsapp"]),
        "sms": Timed(SmsMessenger(twilio, SMS_FROM, DLT_IDS), left["sms"]),
    }
    databases, senders = [], []
    for process in range(processes):
        db = Database(url)
        databases.append(db)
        for channel, messenger in messengers.items():
            per_chat = 1.0 if channel == "telegram" else 0.0
            senders.append(OutboxSender(
                db, {channel: messenger}, pacer=Pacer(rates[channel], per_chat),
                channel_lease=ChannelLease(db, f"send:{channel}", f"bench-{process}",
                                           timedelta(seconds=15), clock=clock),
                config=SenderConfig(lease=timedelta(seconds=60)), clock=clock))
    stop = asyncio.Event()

    async def idle(wait: float) -> None:
        await asyncio.sleep(min(wait, 0.2))

    tasks = [asyncio.create_task(sender.run(stop, idle)) for sender in senders]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    await twilio.close()
    await bot.shutdown()
    for db in databases:
        await db.dispose()
    return {"left": left,
            "owners": {f"{sender._channel_lease.name}@{sender._channel_lease.owner}":
                       sender.sent for sender in senders}}


def report_rates(seconds: float, rates: dict[str, float], arrived: dict[str, Any],
                 left: dict[str, list[tuple[float, float]]]) -> None:
    whatsapp = [(at, 1.0) for at in arrived["whatsapp"]]
    sms = [(at, float(segments)) for at, segments in arrived["sms"]]
    telegram_times = arrived["telegram"]
    print(f"\nsending for {seconds:.0f} s, two worker processes per channel, measured at the "
          "fake provider servers")
    print(f"  {'channel':<9} {'limit/s':>8} {'sent':>7} {'achieved/s':>11} {'of limit':>9} "
          f"{'(leaving Bijli)':>15}  {'busiest 1 s leaving Bijli':>26} {'arriving':>9}")
    for channel, events, unit in (("telegram", [(t, 1.0) for t in telegram_times], "msg"),
                                  ("whatsapp", whatsapp, "msg"), ("sms", sms, "seg")):
        if len(events) < 2:
            print(f"  {channel:<9} {rates[channel]:>8g} {len(events):>7}  (too few to measure)")
            continue
        events.sort()
        span = events[-1][0] - events[0][0]
        # Weight sent after the first event, over the time since it: the steady rate.
        achieved = sum(w for _, w in events[1:]) / span
        out = sorted(left[channel])
        sent_rate = sum(w for _, w in out[1:]) / (out[-1][0] - out[0][0])
        busiest, leaving = busiest_second(events), busiest_second(left[channel])
        print(f"  {channel:<9} {rates[channel]:>8g} {len(events):>7,} {achieved:>9.2f} {unit}"
              f" {achieved / rates[channel]:>8.1%} {sent_rate / rates[channel]:>15.1%}"
              f"  {leaving:>22.0f} {unit} {busiest:>5.0f} {unit}"
              f"{'  ABOVE LIMIT' if leaving > rates[channel] else ''}")
    print(f"  WhatsApp: {arrived['templates']:,} of {len(whatsapp):,} as approved templates "
          "(outside the 24-hour window)")


def report_fanout(by_channel: Counter, sms_segments: float) -> None:
    print("\na real fan-out of these reminders at today's provider limits:")
    for channel, (limit, label) in TODAY.items():
        count = by_channel.get(channel, 0)
        units = count * (sms_segments if channel == "sms" else 1)
        print(f"  {channel:<9} {count:>9,} messages at {label}: {units / limit / 3600:6.1f} h")
    print("  (channels run side by side: the slowest one sets the fan-out's length)")
    whatsapp = by_channel.get("whatsapp", 0)
    for tier in WHATSAPP_TIERS:
        print(f"  WhatsApp tier of {tier:,} business-initiated recipients/24 h: "
              f"{whatsapp / tier:4.1f} days for the templates")
    total = sum(by_channel.values())
    for channel, (limit, _label) in TODAY.items():
        units = total * (sms_segments if channel == "sms" else 1)
        print(f"  all {total:,} by {channel} alone: {units / limit / 3600:6.1f} h")


# --- main -------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--consumers", type=int, default=725_000)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rates", default="", help="e.g. telegram=30,whatsapp=50,sms=100")
    parser.add_argument("--telegram", type=float, default=0.10, help="share with Telegram")
    parser.add_argument("--whatsapp", type=float, default=0.30, help="share with WhatsApp")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded data")
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        serve_fakes()
        return
    rates = parse_rates(args.rates)
    url = args.pg_url

    if not args.reuse:
        started = time.perf_counter()
        await load(url, args.consumers, args.seed)
        db = Database(url)
        made = await add_chats(db, args.telegram, args.whatsapp, args.seed)
        await db.dispose()
        print(f"load done in {time.perf_counter() - started:.0f} s; chats: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(made.items())))
    db = Database(url)
    routing = Routing(channels=frozenset({"telegram", "whatsapp", "sms", "console"}),
                      sms_fallback=True, default_language="hi")
    configure_routing(db, routing)
    try:
        async with db.engine.begin() as connection:  # a re-run starts from an empty outbox
            await connection.execute(text(
                "TRUNCATE message_deliveries, outbound_messages, worker_leases"))
            await connection.execute(text(
                "DELETE FROM chats WHERE channel = 'sms' AND NOT EXISTS "
                "(SELECT 1 FROM chat_accounts WHERE chat_accounts.chat_id = chats.id)"))
        async with db.uow() as uow:
            consumers = await uow.session.scalar(select(func.count()).select_from(Consumer))
        policy = ReminderPolicy(due_within_days=3, notice_days=15)
        report = await enqueue_reminders(db, NOW, policy, routing)
        again = await enqueue_reminders(db, NOW, policy, routing)
        print(f"\nenqueue: {consumers:,} consumers, {report.queued:,} reminders queued in "
              f"{report.seconds:.1f} s ({report.queued / report.seconds:,.0f}/s; target < 60 s:"
              f" {'met' if report.seconds < 60 else 'NOT met'})")
        print("  by channel: " + ", ".join(f"{k} {v:,}" for k, v in sorted(
            report.by_channel.items())) + f"; unreachable (no chat, no mobile) "
              f"{report.unreachable:,}")
        print(f"  second run: {again.queued:,} new in {again.seconds:.1f} s")
        async with db.uow() as uow:
            pending = await uow.session.scalar(select(func.count()).select_from(
                OutboundMessage).where(OutboundMessage.status == "pending"))
            sms_chats = await uow.session.scalar(select(func.count()).select_from(Chat).where(
                Chat.channel == "sms"))
        print(f"  outbox: {pending:,} pending; SMS chats opened: {sms_chats:,}")
    finally:
        await db.dispose()

    fakes = subprocess.Popen([sys.executable, __file__, "--serve-fakes"],  # noqa: S603, ASYNC220
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert fakes.stdin is not None and fakes.stdout is not None
    try:
        urls = json.loads(fakes.stdout.readline())
        result = await send_for(url, args.seconds, rates, urls, args.processes)
        fakes.stdin.write("dump\n")
        fakes.stdin.flush()
        arrived = json.loads(fakes.stdout.readline())
    finally:
        fakes.terminate()
        fakes.wait(timeout=10)
    report_rates(args.seconds, rates, arrived, result["left"])
    print("  sends per worker process: " + ", ".join(
        f"{owner} {count:,}" for owner, count in sorted(result["owners"].items())))
    sms = [segments for _, segments in arrived["sms"]]
    report_fanout(report.by_channel, sum(sms) / len(sms) if sms else 2.0)


def serve_fakes() -> None:
    """The fake Bot API and Twilio in this process; their URLs on stdout, then on "dump" the
    arrival times (CLOCK_MONOTONIC is one clock for every process of the machine)."""
    telegram_api, twilio_api = FakeTelegramAPI(), FakeTwilioAPI()
    timing = ArrivalTimes(telegram_api.app)
    telegram_api.app = timing
    telegram_api.start()
    twilio_api.start()
    print(json.dumps({"telegram": telegram_api.base_url, "twilio": twilio_api.base_url}),
          flush=True)
    sys.stdin.readline()
    sms_messages = [m for m in twilio_api.messages() if not m.to.startswith("whatsapp:")]
    print(json.dumps({
        "telegram": timing.times, "whatsapp": twilio_api.arrivals("whatsapp:"),
        "sms": [(at, m.segments) for at, m in zip(twilio_api.arrivals("+"), sms_messages,
                                                  strict=False)],
        "templates": sum(1 for m in twilio_api.messages() if "ContentSid" in m.form),
    }), flush=True)
    telegram_api.stop()
    twilio_api.stop()


if __name__ == "__main__":
    asyncio.run(main())
