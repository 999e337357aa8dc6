"""The whole Bijli app for tests: in-process (ASGITransport) or live on a socket (uvicorn).

`bijli` gives the app with its lifespan running but *no* background worker: a test drives
the worker with `await app.drain()`, so every step is deterministic. The HES simulator and
the payment sandbox are the embedded defaults (latency 0). `live_bijli` serves the same app
on a real port, with its worker running, for what needs real sockets (the razorpay SDK, a
`bijli worker` subprocess).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select

from api.app import create_app
from api.composition import Services
from api.worker import build_worker
from bot.channels.messengers import ConsoleMessenger
from discom.db import Database
from discom.demo import DEMO_CONSUMERS, demo_consumer_no, seed
from discom.models import Chat, Consumer, OutboundMessage, Payment, ReconnectionOrder
from discom.payments.sandbox import (
    DeliveryMode,
    PaymentSandbox,
    WebhookDeliverer,
    WebhookEvent,
)
from discom.payments.signing import sign
from discom.reconnection.results import Backoff
from discom.settings import Settings
from discom.worker.runner import Worker
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.threaded_server import serving_in_thread

OPS_TOKEN = "ops-test-token"
WEBHOOK_SECRET = "razorpay-test-webhook-secret"
FAST_BACKOFF = Backoff(base=timedelta(milliseconds=5), cap=timedelta(milliseconds=20))


def test_settings(database_url: str, public_base_url: str = "http://bijli.test",
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bijli_env": "test", "database_url": database_url, "public_base_url": public_base_url,
        "ops_api_token": OPS_TOKEN, "hes_simulator_latency_seconds": 0.0,
        "hes_poll_seconds": 0.05, "worker_poll_seconds": 0.05, "default_language": "en",
    }
    return Settings(**{**values, **overrides})


test_settings.__test__ = False  # a factory, not a test, though pytest would collect it


def demo_no(case: str) -> str:
    index = next(i for i, demo in enumerate(DEMO_CONSUMERS) if demo.case == case)
    return demo_consumer_no(index)


@dataclass
class BijliApp:
    app: FastAPI
    client: httpx.AsyncClient
    console_lines: list[str]
    razorpay: PaymentSandbox
    webhooks: WebhookDeliverer

    async def pay(self, link_url: str, amount_paise: int | None = None,
                  mode: DeliveryMode | None = None) -> list[WebhookEvent]:
        """What the checkout page does: pay the link, deliver Razorpay's signed webhooks."""
        checkout = self.razorpay.pay(link_url.rsplit("/", 1)[-1], amount_paise)
        results = await self.webhooks.deliver(checkout.events, mode)
        assert all(result.ok for result in results), results
        return list(checkout.events)

    @property
    def services(self) -> Services:
        return self.app.state.services

    @property
    def db(self) -> Database:
        return self.services.db

    def worker(self) -> Worker:
        console = ConsoleMessenger(self.console_lines.append)
        return build_worker(self.services, {"console": console})

    async def drain(self) -> None:
        """Run the worker until nothing is due (the simulator's callbacks included)."""
        worker = self.worker()
        for _ in range(20):
            await worker.drain()
            if self.services.simulator is not None:
                await self.services.simulator.drain()
            await asyncio.sleep(0)
            if not await self._work_left():
                return
            await asyncio.sleep(0.05)

    async def _work_left(self) -> bool:
        async with self.db.uow() as uow:
            orders = await uow.session.scalar(select(func.count()).select_from(
                ReconnectionOrder).where(ReconnectionOrder.status.in_(("requested", "sent"))))
            pending = await uow.session.scalar(select(func.count()).select_from(
                OutboundMessage).where(OutboundMessage.status == "pending"))
        return bool(orders or pending)

    async def post_razorpay(self, body: dict[str, Any] | bytes, event_id: str, *,
                            secret: str | None = None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        key = secret or self.services.settings.razorpay_webhook_secret.get_secret_value()
        return await self.client.post("/webhooks/razorpay", content=raw, headers={
            "X-Razorpay-Signature": sign(raw, key), "x-razorpay-event-id": event_id,
            "Content-Type": "application/json"})

    async def post_ops_payment(self, consumer_no: str, amount_paise: int, reference: str, *,
                               source: str = "cash") -> httpx.Response:
        return await self.client.post("/ops/payments", headers={
            "Authorization": f"Bearer {OPS_TOKEN}", "X-Operator": "tests"}, json={
            "source": source, "reference": reference, "consumer_no": consumer_no,
            "amount_paise": amount_paise, "paid_at": "2026-11-27T04:30:00+00:00"})

    async def consumer_id(self, consumer_no: str) -> int:
        async with self.db.uow() as uow:
            found = await uow.session.scalar(
                select(Consumer.id).where(Consumer.consumer_no == consumer_no))
        assert found is not None
        return found

    async def payments(self, consumer_no: str) -> list[Payment]:
        consumer_id = await self.consumer_id(consumer_no)
        async with self.db.uow() as uow:
            return list((await uow.session.scalars(
                select(Payment).where(Payment.consumer_id == consumer_id))).all())

    async def orders(self, consumer_no: str) -> list[ReconnectionOrder]:
        consumer_id = await self.consumer_id(consumer_no)
        async with self.db.uow() as uow:
            return list((await uow.session.scalars(select(ReconnectionOrder).where(
                ReconnectionOrder.consumer_id == consumer_id).order_by(
                    ReconnectionOrder.id))).all())

    async def messages(self, chat_ref: str) -> list[OutboundMessage]:
        async with self.db.uow() as uow:
            return list((await uow.session.scalars(
                select(OutboundMessage).join(Chat, Chat.id == OutboundMessage.chat_id)
                .where(Chat.external_id == chat_ref).order_by(OutboundMessage.id))).all())


@pytest.fixture
def bijli_settings(db: Database, database_url: str, razorpay_server: RazorpayServer
                   ) -> Settings:
    """Razorpay configured for real, pointed at the sandbox on a socket (the SDK needs one).
    Depends on `db` so that on PostgreSQL the tables are emptied first."""
    return test_settings(database_url, razorpay_key_id=razorpay_server.key_id,
                         razorpay_key_secret=razorpay_server.key_secret,
                         razorpay_api_base_url=razorpay_server.api_base_url,
                         razorpay_webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
async def bijli(bijli_settings: Settings, razorpay_server: RazorpayServer
                ) -> AsyncIterator[BijliApp]:
    """The app in-process, demo seeded, worker driven by the test (`await bijli.drain()`)."""
    app = create_app(bijli_settings, run_worker=False)
    app.state.services.driver_config = _fast(app.state.services)
    await seed(app.state.services.db)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=bijli_settings.public_base_url
    ) as client:
        yield BijliApp(app, client, [], razorpay_server.sandbox,
                       WebhookDeliverer(client, "/webhooks/razorpay", WEBHOOK_SECRET))


def _fast(services: Services) -> Any:
    from dataclasses import replace

    return replace(services.driver_config, backoff=FAST_BACKOFF)


@contextmanager
def serve_live(app: FastAPI, listener: socket.socket) -> Iterator[None]:
    """Run `app` (with its lifespan) under uvicorn on `listener` in a background thread."""
    with serving_in_thread(app, listener, what="the live Bijli server", lifespan="on",
                           start_limit=15):
        yield
