"""Messengers: how the worker's outbox reaches a chat on each channel (discom.notify.sender)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import timedelta

from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.channels.console import render_plain
from bot.channels.telegram_replies import render, send_outgoing
from bot.notifications import render_note
from discom.notify.pacing import RateLimited
from discom.notify.sender import Note, Undeliverable


class TelegramMessenger:
    """Sends through the Bot API. A blocked bot or a vanished chat will never take the
    message (Undeliverable: on to the consumer's next channel); a 429 pauses the channel for
    its retry_after (RateLimited); anything else — timeouts, 5xx — is retried by the outbox."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def cost(self, note: Note) -> float:
        """Bot API calls the note takes (the pacer counts calls, as Telegram does)."""
        return float(len(render(render_note(note))))

    async def deliver(self, note: Note) -> None:
        try:
            for outgoing in render(render_note(note)):
                await send_outgoing(self._bot, int(note.chat_ref), outgoing)
        except RetryAfter as exc:
            raise RateLimited(retry_after_seconds(exc), "Telegram 429") from exc
        except (Forbidden, BadRequest) as exc:
            raise Undeliverable(str(exc)) from exc


def retry_after_seconds(error: RetryAfter) -> float:
    """PTB 22 gives an int or a timedelta (deprecating the int): seconds either way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ConsoleMessenger:
    """The console chat prints its own notifications (`bijli chat` claims them)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    async def deliver(self, note: Note) -> None:
        self._write(render_plain(render_note(note)))
