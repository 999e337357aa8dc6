"""The composition root: the one place where settings become wired services.

`bijli serve`, `bijli worker`, `bijli chat` and the tests all build their objects here, so a
setting means the same thing everywhere.

The embedded default (no RAZORPAY_KEY_ID, no HES_BASE_URL) hosts the payment sandbox and the
HES simulator inside the API process. There, given the `app`, the HES client and the
simulator's and sandbox's callbacks reach the app in-process (httpx's ASGITransport), so no
socket is needed; a process without the app (`bijli worker`, `bijli chat`) reaches the same
sandbox and simulator over HTTP at PUBLIC_BASE_URL.
"""

from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from telegram.ext import Application

from api.messaging import Messaging, build_messaging
from bot.channels.telegram import build_application
from bot.dialog.deps import DialogDeps
from bot.dialog.engine import DialogService
from discom.availability import Availability
from discom.db import Database, PoolSettings
from discom.hes.client import HesClient, HesRejected, HesUnavailable
from discom.hes.directory import DatabaseMeterDirectory
from discom.hes.simulator import HesSimulator, SimulatorConfig
from discom.kyc import KycServices
from discom.kyc.wiring import kyc_services
from discom.lookups import LookupLimits
from discom.payments.gateway import GatewayRejected, GatewayUnavailable, RazorpayGateway
from discom.payments.links import LinkSettings
from discom.payments.qr import qr_png
from discom.payments.sandbox import (
    SANDBOX_KEY_ID,
    SANDBOX_KEY_SECRET,
    WEBHOOK_PATH,
    PaymentSandbox,
    WebhookDeliverer,
)
from discom.reconnection.driver import DriverConfig
from discom.reconnection.hes_events import Charges
from discom.reconnection.results import Backoff
from discom.settings import Settings
from discom.worker.wakeup import Wakeup

SIMULATOR_PATH = "/sim/hes"
SANDBOX_API_PATH = "/sandbox/razorpay"


@dataclass
class Services:
    settings: Settings
    db: Database
    dialog: DialogService
    wakeup: Wakeup
    gateway: RazorpayGateway
    link_settings: LinkSettings
    hes: HesClient
    charges: Charges
    backoff: Backoff
    driver_config: DriverConfig
    rng: random.Random = field(default_factory=random.Random)
    kyc: KycServices | None = None
    messaging: Messaging = field(default_factory=Messaging)  # WhatsApp and SMS (Twilio)
    telegram: Application | None = None  # built, not started: the app's lifespan runs it
    sandbox: PaymentSandbox | None = None
    sandbox_deliverer: WebhookDeliverer | None = None
    simulator: HesSimulator | None = None
    http_clients: list[httpx.AsyncClient] = field(default_factory=list)

    gateway_errors: tuple[type[Exception], ...] = (GatewayUnavailable, GatewayRejected)
    hes_rejected: type[Exception] = HesRejected
    hes_unavailable: type[Exception] = HesUnavailable
    # Telegram's state since start (it may be unreachable then: /readyz reports it).
    telegram_status: Availability = field(default_factory=Availability)

    async def close(self) -> None:
        if self.simulator is not None:
            await self.simulator.close()
        for client in self.http_clients:
            await client.aclose()
        self.gateway.close()
        await self.messaging.close()
        if self.kyc is not None:
            await self.kyc.close()
        await self.wakeup.close()
        await self.db.dispose()


def open_database(settings: Settings, role: str) -> Database:
    """The database as `role` ("web", "worker", a CLI command) uses it, named in
    pg_stat_activity as bijli-<role>."""
    return Database(settings.database_url, PoolSettings(
        size=settings.database_pool_size, overflow=settings.database_pool_overflow,
        pre_ping=settings.database_pool_pre_ping, application_name=f"bijli-{role}",
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _client(app: Any | None, base_url: str, clients: list[httpx.AsyncClient],
            timeout: float = 10.0) -> httpx.AsyncClient:
    """An httpx client to `base_url`, in-process when the app is at hand."""
    transport = httpx.ASGITransport(app=app) if app is not None else None
    client = httpx.AsyncClient(transport=transport, base_url=base_url, timeout=timeout)
    clients.append(client)
    return client


def _gateway(settings: Settings) -> RazorpayGateway:
    timeout = settings.razorpay_timeout_seconds
    if settings.uses_payment_sandbox:
        return RazorpayGateway(SANDBOX_KEY_ID, SANDBOX_KEY_SECRET,
                               f"{settings.public_base_url}{SANDBOX_API_PATH}", timeout)
    assert settings.razorpay_key_id and settings.razorpay_key_secret
    return RazorpayGateway(settings.razorpay_key_id,
                           settings.razorpay_key_secret.get_secret_value(),
                           settings.razorpay_api_base_url, timeout)


def _sandbox(settings: Settings, app: Any, clients: list[httpx.AsyncClient]
             ) -> tuple[PaymentSandbox, WebhookDeliverer]:
    sandbox = PaymentSandbox(public_base_url=settings.public_base_url)
    deliverer = WebhookDeliverer(
        _client(app, settings.public_base_url, clients),
        f"{settings.public_base_url}{WEBHOOK_PATH}",
        settings.razorpay_webhook_secret.get_secret_value())
    return sandbox, deliverer


def _simulator(settings: Settings, db: Database, app: Any,
               clients: list[httpx.AsyncClient]) -> HesSimulator:
    config = SimulatorConfig(latency=settings.hes_simulator_latency_seconds,
                             failure_rate=settings.hes_simulator_failure_rate,
                             ready_for_reconnection_mode=settings.hes_simulator_ready_mode)
    return HesSimulator(DatabaseMeterDirectory(db), _client(app, settings.public_base_url, clients),
                        settings.hes_webhook_secret.get_secret_value(), config=config,
                        event_url=f"{settings.public_base_url}/webhooks/hes")


def _hes_client(settings: Settings, app: Any, clients: list[httpx.AsyncClient]) -> HesClient:
    base_url = settings.hes_base_url or f"{settings.public_base_url}{SIMULATOR_PATH}"
    in_process = app if settings.uses_hes_simulator else None
    return HesClient(base_url, settings.hes_api_key.get_secret_value(),
                     _client(in_process, base_url, clients), timeout=settings.hes_timeout_seconds)


def build_services(settings: Settings, app: Any | None = None, role: str = "web") -> Services:
    """Wire everything from `settings`. With `app`, this process hosts the sandboxes."""
    db = open_database(settings, role)
    clients: list[httpx.AsyncClient] = []
    gateway = _gateway(settings)
    link_settings = LinkSettings(
        callback_url=f"{settings.public_base_url}/paid",
        lifetime=timedelta(hours=settings.payment_link_lifetime_hours))
    kyc = kyc_services(settings)
    deps = DialogDeps(gateway=gateway, link_settings=link_settings,
                      gateway_errors=(GatewayUnavailable, GatewayRejected), qr_png=qr_png,
                      lookup_limits=LookupLimits(settings.lookups_per_chat_per_hour,
                                                 settings.lookups_per_consumer_per_hour))
    dialog = DialogService(
        db,
        default_language=settings.default_language,
        timeout=timedelta(minutes=settings.conversation_timeout_minutes),
        max_chars=settings.max_message_chars,
        deps=deps,
        kyc=kyc,
    )
    wakeup = Wakeup()
    messaging = build_messaging(settings, db, dialog, deps, wakeup)
    hosts_sandboxes = app is not None
    sandbox, deliverer = (_sandbox(settings, app, clients)
                          if hosts_sandboxes and settings.uses_payment_sandbox else (None, None))
    simulator = (_simulator(settings, db, app, clients)
                 if hosts_sandboxes and settings.uses_hes_simulator else None)
    return Services(
        settings=settings, db=db, dialog=dialog, wakeup=wakeup, gateway=gateway,
        link_settings=link_settings, hes=_hes_client(settings, app, clients),
        charges=Charges(settings.disconnection_charges_paise,
                        settings.reconnection_charges_paise),
        backoff=Backoff(),
        driver_config=DriverConfig(
            reply_url=f"{settings.public_base_url}/webhooks/hes",
            poll_every=timedelta(seconds=settings.hes_poll_seconds),
            lease=timedelta(seconds=settings.worker_lease_seconds),
            deadline=timedelta(minutes=settings.reconnect_deadline_minutes)),
        kyc=kyc, messaging=messaging,
        telegram=build_application(settings, dialog) if settings.telegram_bot_token else None,
        sandbox=sandbox, sandbox_deliverer=deliverer, simulator=simulator, http_clients=clients,
    )
