"""The composition root: the one place where settings become wired services.

`bijli serve`, `bijli worker`, `bijli chat` and the tests all build their objects here, so a
setting means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from telegram.ext import Application

from bot.channels.telegram import build_application
from bot.dialog.engine import DialogService
from discom.db import Database
from discom.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    dialog: DialogService
    telegram: Application | None = None  # built, not started: the app's lifespan runs it

    async def close(self) -> None:
        await self.db.dispose()


def build_services(settings: Settings) -> Services:
    db = Database(settings.database_url)
    dialog = DialogService(
        db,
        default_language=settings.default_language,
        timeout=timedelta(minutes=settings.conversation_timeout_minutes),
        max_chars=settings.max_message_chars,
    )
    telegram = build_application(settings, dialog) if settings.telegram_bot_token else None
    return Services(settings=settings, db=db, dialog=dialog, telegram=telegram)
