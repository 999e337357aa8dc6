"""Finding Medium 7: reliability when the database or Telegram misbehaves.

- A database that accepts connections but never answers: connecting is bounded
  (DATABASE_CONNECT_TIMEOUT_SECONDS) and /readyz answers within 2 s, with its reason, logged.
- Telegram unreachable at start: the app and the worker start without it, retry in the
  background, and /readyz reports it.
- The worker's LISTEN connection comes back after PostgreSQL drops it (PostgreSQL only).
- While the database is down, the log gets one line per failure kind, not tracebacks.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.composition import open_database
from bot.channels.telegram import sending_only
from discom.availability import Availability, Backoff, ThrottledLog
from discom.db import Database
from discom.settings import Settings
from discom.worker.runner import Periodic, Worker
from discom.worker.wakeup import CHANNEL, Wakeup
from tests.conftest import ON_POSTGRES
from tests.fakes.tcp import Gate, SilentServer
from tests.fakes.telegram_api import FakeTelegramAPI


def hanging_database_settings(port: int, **changes: Any) -> Settings:
    return Settings(_env_file=None, bijli_env="test", database_connect_timeout_seconds=1.0,
                    database_url=f"postgresql+asyncpg://bijli@127.0.0.1:{port}/bijli",
                    **changes)


# --- a database that accepts connections but never answers ------------------------------------

async def test_readyz_answers_within_2_seconds_when_the_database_never_answers():
    async with SilentServer() as database:
        app = create_app(hanging_database_settings(database.port))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://bijli.test") as client:
                started = time.monotonic()
                async with asyncio.timeout(5):
                    response = await client.get("/readyz")
                took = time.monotonic() - started
        finally:
            await app.state.services.close()

    assert took < 2.0
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "no answer" in response.json()["database"]
    assert database.connections >= 1


async def test_readyz_logs_why_it_is_not_ready():
    async with SilentServer() as database:
        app = create_app(hanging_database_settings(database.port))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://bijli.test") as client:
                with structlog.testing.capture_logs() as logged:
                    async with asyncio.timeout(5):
                        await client.get("/readyz")
        finally:
            await app.state.services.close()

    [line] = [entry for entry in logged if entry["event"] == "readyz.not_ready"]
    assert "no answer" in line["database"]
    assert "exc_info" not in line


async def test_a_transaction_gives_up_connecting_after_the_connect_timeout():
    async with SilentServer() as silent:
        db = open_database(hanging_database_settings(silent.port), "web")
        started = time.monotonic()
        try:
            with pytest.raises(Exception):  # noqa: B017 - whatever asyncpg raises, it gives up
                async with asyncio.timeout(10), db.uow() as uow:
                    await uow.session.execute(text("SELECT 1"))
        finally:
            await db.dispose()

    assert time.monotonic() - started < 3.0


@pytest.mark.skipif(ON_POSTGRES, reason="about SQLite's write lock")
async def test_readyz_is_not_held_up_by_a_long_write_on_sqlite(database_url: str):
    app = create_app(Settings(_env_file=None, database_url=database_url))
    writer = Database(database_url)
    try:
        async with writer.engine.connect() as holding, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bijli.test") as client:
            await holding.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock, held
            started = time.monotonic()
            response = await client.get("/readyz")
            took = time.monotonic() - started
    finally:
        await writer.dispose()
        await app.state.services.close()

    assert response.status_code == 200
    assert took < 1.0


# --- Telegram unreachable at start -------------------------------------------------------------

def polling_settings(database_url: str, fake: FakeTelegramAPI, port: int) -> Settings:
    return Settings(_env_file=None, database_url=database_url, telegram_bot_token=fake.token,
                    telegram_api_base_url=f"http://127.0.0.1:{port}/bot")


async def test_the_app_starts_without_telegram_and_reports_it_in_readyz(
        database_url: str, fake_telegram: FakeTelegramAPI):
    async with Gate(fake_telegram.port) as telegram:
        app = create_app(polling_settings(database_url, fake_telegram, telegram.port))
        async with LifespanManager(app) as manager, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://bijli.test") as client:
            response = await client.get("/readyz")

    assert telegram.refused >= 1
    assert response.status_code == 200  # payments and reconnection go on without the bot
    assert response.json()["database"] == "up"
    assert response.json()["telegram"].startswith("retrying")


async def test_the_app_starts_the_bot_once_telegram_is_back(
        database_url: str, fake_telegram: FakeTelegramAPI):
    async with Gate(fake_telegram.port) as telegram:
        app = create_app(polling_settings(database_url, fake_telegram, telegram.port))
        async with LifespanManager(app) as manager, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app),
                base_url="http://bijli.test") as client:
            telegram.open()
            await fake_telegram.wait_for("getUpdates")
            response = await client.get("/readyz")

    assert response.json()["telegram"] == "up"
    assert [call.method for call in fake_telegram.calls()][:2] == ["getMe", "deleteWebhook"]


async def test_a_worker_starts_sending_without_telegram(
        database_url: str, fake_telegram: FakeTelegramAPI):
    async with Gate(fake_telegram.port) as telegram:
        app = create_app(polling_settings(database_url, fake_telegram, telegram.port))
        status = Availability()
        try:
            async with sending_only(app.state.services.telegram, status):
                assert status.state == "retrying"
        finally:
            await app.state.services.close()


# --- PostgreSQL's LISTEN connection -----------------------------------------------------------

@pytest.mark.postgres_only
async def test_the_listen_connection_comes_back_after_postgres_drops_it(database_url: str):
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    wakeup, db = Wakeup(), Database(database_url)
    try:
        with structlog.testing.capture_logs() as logged:
            await wakeup.listen_postgres(dsn, check_every=0.5,
                                         backoff=Backoff(first=0.05, cap=0.2))
            assert wakeup.listening
            async with db.engine.begin() as connection:
                await connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'bijli-listen' AND datname = current_database()"))
            await _until(lambda: not wakeup.listening)
            await _until(lambda: wakeup.listening)
            wakeup.take_news()
            await wakeup.wait(0)  # clear the catch-up wake-up
            async with db.engine.begin() as connection:
                await connection.execute(text(f"SELECT pg_notify('{CHANNEL}', 'orders')"))
            assert await wakeup.wait(5)
    finally:
        await wakeup.close()
        await db.dispose()

    events = [entry["event"] for entry in logged]
    assert "wakeup.listen_lost" in events
    assert "wakeup.listen_restored" in events


async def _until(condition: Any, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the state of another task, polled
            await asyncio.sleep(0.02)


# --- the log while the database is down -------------------------------------------------------

async def test_a_job_failing_because_the_database_is_down_logs_one_line_not_tracebacks():
    async def job() -> int:
        raise ConnectionRefusedError("connection refused")

    worker = Worker([Periodic("reconnection", job)], Wakeup(), poll=0.01)
    with structlog.testing.capture_logs() as logged:
        for _ in range(200):
            await worker.run_once()

    failures = [entry for entry in logged if "failed" in entry["event"]]
    assert len(failures) == 1
    assert "exc_info" not in failures[0]
    assert "ConnectionRefusedError" in failures[0]["error"]


def test_repeated_failures_are_logged_again_after_a_doubling_interval():
    now = [0.0]
    logged: list[str] = []

    class Logger:
        def warning(self, event: str, **_: Any) -> None:
            logged.append(event)

        def info(self, event: str, **_: Any) -> None:
            logged.append(event)

    throttled = ThrottledLog(clock=lambda: now[0], logger=Logger())
    for tick in range(700):  # 7 s of failures, 100 a second
        now[0] = tick / 100
        throttled.failure("db.down", OSError("refused"))
    throttled.recovered("db.down")

    assert logged == ["db.down"] * 3 + ["db.down.recovered"]  # at 0 s, 1 s and 3 s
