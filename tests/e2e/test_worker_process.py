"""Use cases of the standalone worker process (`bijli worker`): it dies (`kill -9`) mid-order,
a new one starts, and the consumer still gets the supply back — once, with each message once;
and it tells a Telegram chat the supply is back with no web process's help.

Real processes: the app (API, webhooks, HES simulator) serves on a socket under uvicorn with
no worker of its own; `bijli worker` runs as a subprocess against the same database (a
SQLite file, or PostgreSQL with TEST_DATABASE_URL) and reaches the simulator over HTTP at
PUBLIC_BASE_URL, as a scaled-out deployment does. Every wait is bounded and says what it
waited for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from discom.accounts import load_dues
from discom.clock import utcnow
from discom.db import Database
from discom.demo import seed
from discom.hes.simulator import HesSimulator
from discom.models import Chat, ChatAccount, Consumer, Meter, OutboundMessage, ReconnectionOrder
from discom.settings import Settings
from tests.fakes.bijli_app import OPS_TOKEN, demo_no, serve_live, test_settings
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.fakes.threaded_server import bound_listener

DISCONNECTED = "disconnected for non-payment, with charges"
BIJLI = Path(sys.executable).with_name("bijli")
WAIT_SECONDS = 60.0  # generous: the retry backoff after a failure is 2-4 s, then doubling


@dataclass
class Live:
    url: str
    simulator: HesSimulator
    db: Database
    tmp: Path
    database_url: str
    workers: list[subprocess.Popen[bytes]]
    worker_env: dict[str, str] = field(default_factory=dict)  # what every worker is told

    def start_worker(self, **extra_env: str) -> subprocess.Popen[bytes]:
        # Only what is set here: no stray Bijli setting from the test runner's environment.
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in Settings.model_fields}
        env.update({
            "DATABASE_URL": self.database_url, "PUBLIC_BASE_URL": self.url,
            "BIJLI_ENV": "test", "WORKER_LEASE_SECONDS": "1", "HES_POLL_SECONDS": "0.2",
            "WORKER_POLL_SECONDS": "0.1", "SWEEP_INTERVAL_SECONDS": "1",
            "DEFAULT_LANGUAGE": "en", "LOG_LEVEL": "WARNING", **self.worker_env, **extra_env,
        })
        log = (self.tmp / f"worker-{len(self.workers) + 1}.log").open("wb")
        # cwd: a directory without a .env, so the environment above is all it is told.
        process = subprocess.Popen([str(BIJLI), "worker"], env=env, cwd=self.tmp,  # noqa: S603
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=15) == -signal.SIGKILL

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.tmp.glob("worker-*.log")))


@asynccontextmanager
async def serving(db: Database, database_url: str, tmp_path: Path,
                  **overrides: Any) -> AsyncIterator[Live]:
    """The app on a free port, worker-less; demo seeded (on an emptied database)."""
    await seed(db)
    listener, url = bound_listener()
    settings = test_settings(database_url, public_base_url=url, hes_poll_seconds=0.2,
                             **overrides)
    app = create_app(settings, run_worker=False)
    workers: list[subprocess.Popen[bytes]] = []
    with serve_live(app, listener):
        try:
            yield Live(url, app.state.services.simulator, db, tmp_path, database_url, workers)
        finally:  # the workers go before the server they talk to
            for process in workers:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=15)


@pytest.fixture
async def live(db: Database, database_url: str, tmp_path: Path) -> AsyncIterator[Live]:
    async with serving(db, database_url, tmp_path) as running:
        yield running


@pytest.fixture
async def live_on_telegram(db: Database, database_url: str, tmp_path: Path,
                           fake_telegram: FakeTelegramAPI) -> AsyncIterator[Live]:
    """As `live`, with Telegram on (by webhook) in the app; workers are told the same."""
    telegram = {"telegram_bot_token": TOKEN, "telegram_api_base_url": fake_telegram.base_url,
                "telegram_webhook_secret": "e2e-webhook-secret"}
    async with serving(db, database_url, tmp_path, **telegram) as running:
        running.worker_env.update({name.upper(): value for name, value in telegram.items()})
        yield running


# --- helpers --------------------------------------------------------------------------------

async def link_chat(db: Database, consumer_no: str, chat_ref: str,
                    channel: str = "console") -> int:
    now = utcnow()
    async with db.uow() as uow:
        consumer_id = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == consumer_no))
        assert consumer_id is not None
        chat = Chat(channel=channel, external_id=chat_ref, language="en",
                    language_chosen=True, created_at=now, last_inbound_at=now)
        uow.session.add(chat)
        await uow.session.flush()
        uow.session.add(ChatAccount(chat_id=chat.id, consumer_id=consumer_id, linked_at=now))
        await uow.commit()
        return consumer_id


async def pay_all(live: Live, consumer_no: str, consumer_id: int, reference: str) -> int:
    async with live.db.uow() as uow:
        total = (await load_dues(uow.session, consumer_id)).total
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        response = await client.post("/ops/payments", headers={
            "Authorization": f"Bearer {OPS_TOKEN}", "X-Operator": "tests"}, json={
            "source": "cash", "reference": reference, "consumer_no": consumer_no,
            "amount_paise": total, "paid_at": "2026-11-27T04:30:00+00:00"})
    assert response.status_code == 201, response.text
    [order_id] = response.json()["reconnection_orders"]
    return order_id


async def order(live: Live, order_id: int) -> ReconnectionOrder:
    async with live.db.uow() as uow:
        found = await uow.session.get(ReconnectionOrder, order_id)
    assert found is not None
    return found


async def meter_state(live: Live, consumer_id: int) -> str:
    async with live.db.uow() as uow:
        return await uow.session.scalar(
            select(Meter.relay_state).where(Meter.consumer_id == consumer_id)) or "none"


async def message_kinds(live: Live, consumer_id: int) -> Counter[str]:
    async with live.db.uow() as uow:
        kinds = (await uow.session.scalars(select(OutboundMessage.kind).where(
            OutboundMessage.consumer_id == consumer_id))).all()
    return Counter(kinds)


async def wait_for(live: Live, condition: Callable[[], Awaitable[bool]], what: str,
                   within: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        dead = [p.pid for p in live.workers if p.poll() not in (None, -signal.SIGKILL)]
        if dead or time.monotonic() > deadline:
            reason = f"worker(s) {dead} exited" if dead else f"gave up after {within:.0f} s"
            pytest.fail(f"{reason} waiting for: {what}\n{live.logs()}")
        await asyncio.sleep(0.05)


def assert_once_each(kinds: Counter[str], expected: list[str]) -> None:
    assert kinds == Counter(expected), f"messages doubled or missing: {dict(kinds)}"


class LateAnswers:
    """Installed on the simulator: the HES accepts (and carries out) a command at once, but
    its answer does not leave until `release` is set — the worker sending it waits, holding
    the order's lease."""

    def __init__(self, simulator: HesSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()  # set from the test's thread, read on the server's
        self.arrived = 0
        self._accept = simulator.submit
        monkeypatch.setattr(simulator, "submit", self.submit)

    async def submit(self, **kwargs: Any) -> Any:
        submission = await self._accept(**kwargs)
        self.arrived += 1
        await asyncio.to_thread(self.release.wait, WAIT_SECONDS)
        return submission


@pytest.fixture
def late(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[LateAnswers]:
    answers = LateAnswers(live.simulator, monkeypatch)
    try:
        yield answers
    finally:
        answers.release.set()  # before the server stops: never leave a request hanging


# --- the tests ------------------------------------------------------------------------------

async def test_a_worker_killed_while_the_hes_was_down_is_replaced_and_nothing_is_doubled(
        live: Live):
    no = demo_no(DISCONNECTED)
    consumer_id = await link_chat(live.db, no, "meena")
    live.simulator.configure(down=True)
    first = live.start_worker()
    order_id = await pay_all(live, no, consumer_id, "CASH-CRASH-1")

    async def tried() -> bool:
        return (await order(live, order_id)).tries >= 1

    await wait_for(live, tried, "the first worker to try the HES (and fail: it is down)")
    live.kill(first)
    assert (await order(live, order_id)).status == "failed"
    assert live.simulator.commands == []

    live.simulator.configure(down=False)
    live.start_worker()

    async def connected() -> bool:
        return await meter_state(live, consumer_id) == "connected"

    await wait_for(live, connected, "the second worker to reconnect the meter")
    await wait_for(live, lambda: _status_is(live, order_id, "confirmed"), "order confirmed")
    [command] = live.simulator.commands
    assert command.idempotency_key == f"reconnect-{order_id}-1"
    assert dict(live.simulator.executions) == {command.idempotency_key: 1}
    assert_once_each(await message_kinds(live, consumer_id), [
        "payment_received", "reconnection_delayed", "reconnection_started", "supply_restored"])


async def _status_is(live: Live, order_id: int, status: str) -> bool:
    return (await order(live, order_id)).status == status


async def test_a_worker_killed_holding_a_lease_after_the_hes_took_the_command_is_replaced(
        live: Live, late: LateAnswers):
    """The worst moment: the HES accepted (and executed) the command, but the worker died
    before it heard so, still holding the order's lease. The next worker waits the lease
    out, repeats the command under the same key, and the HES answers with the one it has."""
    no = demo_no(DISCONNECTED)
    consumer_id = await link_chat(live.db, no, "meena")
    live.simulator.configure(drop_callbacks=True)  # only polling can learn the result
    first = live.start_worker(HES_TIMEOUT_SECONDS="120")
    order_id = await pay_all(live, no, consumer_id, "CASH-CRASH-2")

    async def leased_and_sent() -> bool:
        current = await order(live, order_id)
        return current.lease_owner is not None and late.arrived >= 1

    await wait_for(live, leased_and_sent, "the first worker to lease the order and send")
    live.kill(first)
    assert (await order(live, order_id)).status == "requested"
    assert len(live.simulator.commands) == 1
    late.release.set()

    live.start_worker()
    await wait_for(live, lambda: _status_is(live, order_id, "confirmed"),
                   "the second worker to confirm the order by polling")
    assert await meter_state(live, consumer_id) == "connected"
    [command] = live.simulator.commands
    assert late.arrived == 2, "the second worker should have re-sent the command"
    assert dict(live.simulator.executions) == {f"reconnect-{order_id}-1": 1}
    assert (await order(live, order_id)).command_id == command.command_id
    assert_once_each(await message_kinds(live, consumer_id), [
        "payment_received", "reconnection_started", "supply_restored"])


async def test_a_worker_killed_before_the_command_result_was_recorded_is_made_good_by_polling(
        live: Live):
    no = demo_no(DISCONNECTED)
    consumer_id = await link_chat(live.db, no, "meena")
    # The meter takes a moment and its callback is lost: only a poll can learn the result.
    live.simulator.configure(drop_callbacks=True, latency=1.5)
    first = live.start_worker()
    order_id = await pay_all(live, no, consumer_id, "CASH-CRASH-3")

    await wait_for(live, lambda: _status_is(live, order_id, "sent"),
                   "the first worker to send the command")
    live.kill(first)
    assert (await order(live, order_id)).status == "sent"

    live.start_worker()
    await wait_for(live, lambda: _status_is(live, order_id, "confirmed"),
                   "the second worker to confirm the order by polling")
    assert await meter_state(live, consumer_id) == "connected"
    assert live.simulator.callbacks.delivered == 0
    assert len(live.simulator.commands) == 1
    assert dict(live.simulator.executions) == {f"reconnect-{order_id}-1": 1}
    assert_once_each(await message_kinds(live, consumer_id), [
        "payment_received", "reconnection_started", "supply_restored"])


async def test_a_standalone_worker_tells_a_telegram_chat_the_supply_is_back(
        live_on_telegram: Live, fake_telegram: FakeTelegramAPI):
    """The worker process sends on Telegram by itself: it opens the bot (getMe checks the
    token) but never polls for updates — that is the web process's job, or the webhook's."""
    live = live_on_telegram
    no = demo_no(DISCONNECTED)
    consumer_id = await link_chat(live.db, no, "5001", channel="telegram")
    app_checks = len(fake_telegram.calls("getMe"))  # the app's own, at its start
    live.start_worker()
    order_id = await pay_all(live, no, consumer_id, "CASH-TG-1")

    async def told() -> bool:
        return any("restored" in text for text in fake_telegram.texts(5001))

    await wait_for(live, told, "the worker to tell the Telegram chat the supply is back")
    assert await _status_is(live, order_id, "confirmed")
    texts = fake_telegram.texts(5001)
    assert [t.split(" ")[0] for t in texts] == ["Payment", "Your", "Supply"], texts
    assert len(fake_telegram.calls("getMe")) == app_checks + 1, (
        "the worker should check its token at start")
    assert not fake_telegram.calls("getUpdates"), "the worker must not poll for updates"
    assert not fake_telegram.calls("deleteWebhook"), "polling would remove the webhook"
