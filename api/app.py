"""The FastAPI application: routers, and the lifespan that starts and stops the services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from api.composition import SIMULATOR_PATH, Services, build_services
from api.http import MAX_WEBHOOK_BYTES, require_staff_in_production
from api.limits import BodyLimitMiddleware, BodyLimits
from api.routers import (
    health,
    hes,
    kyc_reviews,
    ops,
    pages,
    razorpay,
    refunds,
    telegram,
    twilio,
)
from api.sandboxes.hes import hes_simulator_app
from api.sandboxes.razorpay import razorpay_sandbox_router
from api.worker import build_worker, listen_for_work
from bot.channels.telegram import running as telegram_running
from discom.settings import Settings, refuse_unfit_production


def create_app(settings: Settings | None = None, services: Services | None = None, *,
               run_worker: bool = False) -> FastAPI:
    """Build the app. Tests pass their own `settings`; everything else is wired from them.
    With `run_worker`, the worker runs inside this process (the embedded default)."""
    settings = settings or Settings()
    # Here, not only in the CLI: any ASGI server may load this factory.
    refuse_unfit_production(settings)
    production = settings.bijli_env == "production"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wired: Services = app.state.services
        try:
            async with telegram_running(wired.telegram, wired.telegram_status), \
                    _worker_running(wired, run_worker):
                yield
        finally:
            await wired.close()

    # In production the API description is for staff only (_include_staff_docs).
    app = FastAPI(title="Bijli", version="0.1.0", lifespan=lifespan,
                  **({"docs_url": None, "redoc_url": None, "openapi_url": None}
                     if production else {}))
    app.state.services = services or build_services(settings, app=app)
    _include_routes(app, app.state.services)
    if production:
        _include_staff_docs(app)
    app.add_exception_handler(RecursionError, _nested_too_deeply)
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(settings))
    return app


def body_limits(settings: Settings) -> BodyLimits:
    """MAX_REQUEST_BODY_BYTES everywhere but the webhooks whose providers send more."""
    return BodyLimits(default=settings.max_request_body_bytes, by_prefix={
        telegram.WEBHOOK_PATH: telegram.MAX_BODY_BYTES,
        "/webhooks/razorpay": MAX_WEBHOOK_BYTES,
    })


def _include_routes(app: FastAPI, services: Services) -> None:
    for module in (health, razorpay, hes, ops, pages, twilio, kyc_reviews, refunds):
        app.include_router(module.router)
    if telegram.webhook_configured(services.settings):
        app.include_router(telegram.router)
    if services.sandbox is not None:
        app.include_router(razorpay_sandbox_router(services.sandbox, services.sandbox_deliverer))
    if services.simulator is not None:
        app.mount(SIMULATOR_PATH, hes_simulator_app(
            services.simulator, services.settings.hes_api_key.get_secret_value()))


async def _nested_too_deeply(_request: Request, _error: Exception) -> JSONResponse:
    """Any JSON parser a route uses on a 100,000-deep [[[...]]] fails with RecursionError:
    that is the client's fault (400), not a server error; nothing was written (the unit of
    work rolled back as the error passed)."""
    return JSONResponse({"detail": "the body is nested too deeply"}, status_code=400)


def _include_staff_docs(app: FastAPI) -> None:
    """/openapi.json and /docs behind the ops bearer token (production)."""
    router = APIRouter(include_in_schema=False,
                       dependencies=[Depends(require_staff_in_production)])

    @router.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Bijli API")

    app.include_router(router)


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
