"""`bijli chat`: the console dialog, plus the notifications owed to this console chat.

The worker delivers Telegram, WhatsApp and SMS; a console chat lives only in the terminal that
runs it, so that terminal claims and prints its own notifications ("supply restored") from the
same outbox, polling once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from api.composition import Services
from bot.channels.console import CHANNEL, run_console
from bot.channels.messengers import ConsoleMessenger
from discom.models import Chat
from discom.notify.sender import OutboxSender

POLL_SECONDS = 1.0


async def _chat_pk(services: Services, chat_ref: str) -> int | None:
    async with services.db.uow() as uow:
        return await uow.session.scalar(
            select(Chat.id).where(Chat.channel == CHANNEL, Chat.external_id == chat_ref))


async def deliver_notifications(services: Services, chat_ref: str,
                                write: Callable[[str], None], stop: asyncio.Event) -> None:
    sender: OutboxSender | None = None
    while not stop.is_set():
        if sender is None and (chat_pk := await _chat_pk(services, chat_ref)) is not None:
            sender = OutboxSender(services.db, {CHANNEL: ConsoleMessenger(write)},
                                  gateway=services.gateway, link_settings=services.link_settings,
                                  only_chat_ids={chat_pk})
        if sender is not None:
            await sender.run_due()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_SECONDS)


async def chat_in_terminal(services: Services, read: Callable[[], Awaitable[str | None]],
                           write: Callable[[str], None], chat_ref: str) -> None:
    """Converse until end of input, printing notifications as they come."""
    stop = asyncio.Event()
    notifications = asyncio.create_task(deliver_notifications(services, chat_ref, write, stop))
    try:
        await run_console(services.dialog, read, write, chat_ref)
    finally:
        stop.set()
        await notifications
