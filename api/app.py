"""The FastAPI application: routers, and the lifespan that starts and stops the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.composition import Services, build_services
from api.routers import health, telegram
from bot.channels.telegram import running as telegram_running
from discom.settings import Settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Tests pass their own `settings`; everything else is wired from them."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or build_services(settings)
        try:
            async with telegram_running(app.state.services.telegram):
                yield
        finally:
            await app.state.services.close()

    app = FastAPI(title="Bijli", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    if telegram.webhook_configured(settings):
        app.include_router(telegram.router)
    return app
