"""Messengers: how the worker's outbox reaches a chat on each channel (discom.notify.sender)."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Bot
from telegram.error import BadRequest, Forbidden

from bot.channels.console import render_plain
from bot.channels.telegram_replies import render, send_outgoing
from bot.notifications import render_note
from discom.notify.sender import Note, Undeliverable


class TelegramMessenger:
    """Sends through the Bot API. A blocked bot or a vanished chat will never take the
    message (Undeliverable); anything else — 429, timeouts, 5xx — is retried by the outbox."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(self, note: Note) -> None:
        try:
            for outgoing in render(render_note(note)):
                await send_outgoing(self._bot, int(note.chat_ref), outgoing)
        except (Forbidden, BadRequest) as exc:
            raise Undeliverable(str(exc)) from exc


class ConsoleMessenger:
    """The console chat prints its own notifications (`bijli chat` claims them)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    async def deliver(self, note: Note) -> None:
        self._write(render_plain(render_note(note)))
