"""The FastAPI application: routers, and the lifespan that starts and stops the services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.composition import SIMULATOR_PATH, Services, build_services
from api.routers import health, hes, ops, pages, razorpay, refunds, telegram, twilio
from api.sandboxes.hes import hes_simulator_app
from api.sandboxes.razorpay import razorpay_sandbox_router
from api.worker import build_worker, listen_for_work
from bot.channels.telegram import running as telegram_running
from discom.settings import Settings


def create_app(settings: Settings | None = None, services: Services | None = None, *,
               run_worker: bool = False) -> FastAPI:
    """Build the app. Tests pass their own `settings`; everything else is wired from them.
    With `run_worker`, the worker runs inside this process (the embedded default)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wired: Services = app.state.services
        try:
            async with telegram_running(wired.telegram), _worker_running(wired, run_worker):
                yield
        finally:
            await wired.close()

    app = FastAPI(title="Bijli", version="0.1.0", lifespan=lifespan)
    app.state.services = services or build_services(settings, app=app)
    _include_routes(app, app.state.services)
    return app


def _include_routes(app: FastAPI, services: Services) -> None:
    for module in (health, razorpay, hes, ops, pages, twilio, refunds):
        app.include_router(module.router)
    if telegram.webhook_configured(services.settings):
        app.include_router(telegram.router)
    if services.sandbox is not None:
        app.include_router(razorpay_sandbox_router(services.sandbox, services.sandbox_deliverer))
    if services.simulator is not None:
        app.mount(SIMULATOR_PATH, hes_simulator_app(
            services.simulator, services.settings.hes_api_key.get_secret_value()))


@asynccontextmanager
async def _worker_running(services: Services, enabled: bool) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    await listen_for_work(services)
    stop = asyncio.Event()
    task = asyncio.create_task(build_worker(services).run(stop), name="bijli-worker")
    try:
        yield
    finally:
        stop.set()
        services.wakeup.poke()
        # A pass stuck on a lock or a slow HES must not hold up shutdown: its leases run out
        # and another worker redoes the step with the same idempotency keys.
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=3)
