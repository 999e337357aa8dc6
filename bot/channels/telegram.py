"""The Telegram channel: python-telegram-bot (PTB) parses updates, the dialog answers, PTB sends.

Two modes, chosen by settings:

- **webhook** (TELEGRAM_WEBHOOK_SECRET set; production): the Application has no Updater.
  `POST /webhooks/telegram` checks the secret and hands each update to
  `process_webhook_update`, which runs the handlers inside the request, so the dialog's turn is
  committed (and the update_id recorded) before Telegram sees its 200.
- **polling** (no secret; a laptop): PTB's Updater long-polls getUpdates, one update at a time
  so a chat's messages are answered in the order they were sent.

What is answered: messages and button presses in *private* chats. Updates from groups,
supergroups and channels are ignored silently (a dues answer in a group would show one
member's account to all the others, and a bot that chatters in groups gets removed); their
button presses are still acknowledged so the client stops its spinner. Edited messages and
service messages ("auto-delete timer changed") are ignored. A message without text (sticker,
photo, location) reaches the dialog with `text=None`, which answers "text only". A shared
contact counts only when it is the sender's own (Telegram's request_contact button sends that);
a forwarded contact card is treated like any other non-text message.

Each update reaches the dialog with `delivery_id=update_id`: a re-delivered update gets no
answer. Replies are rendered and sent by `bot.channels.telegram_replies`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from telegram import Bot, CallbackQuery, Message, Update
from telegram.constants import ChatType
from telegram.error import NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.telegram_replies import send_replies
from bot.dialog.engine import DialogService
from bot.dialog.messages import Incoming
from discom.availability import Availability, start_or_retry, stop_retrying
from discom.settings import Settings

CHANNEL = "telegram"
# What Bijli asks Telegram to deliver (setWebhook, getUpdates): nothing it would ignore.
ALLOWED_UPDATES = ("message", "callback_query")
# New (not edited) messages in private chats, service messages ("timer changed") excepted.
PRIVATE_MESSAGES = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL

log = structlog.get_logger(__name__)

# The failures of the update being processed in this task; set only by process_webhook_update.
_failures: ContextVar[list[BaseException] | None] = ContextVar("telegram_failures", default=None)


class InvalidUpdate(ValueError):
    """A webhook body that is not a Telegram Update."""


def build_application(settings: Settings, dialog: DialogService) -> Application:
    """The PTB Application for these settings: webhook mode when a webhook secret is set,
    polling otherwise. Building it touches no network; `running` starts it."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is unset: Telegram is off")
    token = settings.telegram_bot_token.get_secret_value()
    redact_token_in_logs(token)
    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        # 30 requests/s overall (only those with a chat_id count) and 20/min per group, per
        # process. It neither enforces 1 message/s per private chat nor retries here
        # (max_retries=0): a RetryAfter is raised at once and the reply dropped (see
        # telegram_replies), rather than holding a webhook request for retry_after seconds.
        .rate_limiter(AIORateLimiter(overall_max_rate=30, overall_time_period=1, max_retries=0))
    )
    if settings.telegram_webhook_secret is not None:
        builder = builder.updater(None)
    application = builder.build()
    channel = TelegramChannel(dialog)
    application.add_handler(MessageHandler(PRIVATE_MESSAGES, channel.on_message))
    application.add_handler(CallbackQueryHandler(channel.on_button))
    application.add_error_handler(on_error)
    return application


class TelegramChannel:
    """The PTB handlers: every update becomes one `Incoming` for the dialog."""

    def __init__(self, dialog: DialogService) -> None:
        self._dialog = dialog

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._converse(update, context)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every button press is acknowledged first, whatever follows, or the consumer's
        client shows a spinner until Telegram gives up on it."""
        assert update.callback_query is not None
        await _acknowledge(update.callback_query)
        await self._converse(update, context)

    async def _converse(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = incoming_from_update(update)
        if incoming is None or update.effective_chat is None:
            return
        outcome = await self._dialog.handle(incoming, delivery_id=str(update.update_id))
        await send_replies(context.bot, update.effective_chat.id, outcome.replies,
                           update_id=update.update_id)


def incoming_from_update(update: Update) -> Incoming | None:
    """The channel-neutral message in an update, or None for an update Bijli ignores."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return None
    chat_ref = str(chat.id)
    if update.callback_query is not None:
        data = update.callback_query.data
        return Incoming(CHANNEL, chat_ref, button=data) if data else None
    message = update.message
    if message is None:  # edited messages and every other kind of update
        return None
    return Incoming(CHANNEL, chat_ref, text=message.text, contact_phone=_own_phone(message))


def _own_phone(message: Message) -> str | None:
    """The shared phone number, if the contact shared is the sender's own."""
    contact, sender = message.contact, message.from_user
    if contact is None or sender is None or contact.user_id != sender.id:
        return None
    return contact.phone_number


async def _acknowledge(query: CallbackQuery) -> None:
    try:
        await query.answer()
    except TelegramError as error:  # too old, already answered: the press is still handled
        log.info("telegram.callback_answer_failed", error=type(error).__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB routes a handler's exception here: log it, and tell a waiting webhook request."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("telegram.update_failed", update_id=update_id, exc_info=context.error)
    failures = _failures.get()
    if failures is not None and context.error is not None:
        failures.append(context.error)


def parse_update(data: Any, bot: Bot) -> Update:
    """A webhook body (already JSON-decoded) as an Update, or InvalidUpdate."""
    if not isinstance(data, dict):
        raise InvalidUpdate("the body is not a JSON object")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise InvalidUpdate("update_id is missing or not an integer")
    try:
        update = Update.de_json(data, bot)
    except Exception as error:  # PTB raises KeyError, TypeError, AttributeError... on bad input
        raise InvalidUpdate(f"not a valid Update ({type(error).__name__})") from None
    # PTB builds a message without its chat, or a button press without its sender, which the
    # handlers then fail on (a 500, redelivered forever); Telegram always sends both.
    message = update.effective_message
    if message is not None and getattr(message, "chat", None) is None:
        raise InvalidUpdate("the message has no chat")
    if update.callback_query is not None and update.callback_query.from_user is None:
        raise InvalidUpdate("the button press has no sender")
    return update


async def process_webhook_update(application: Application, update: Update) -> bool:
    """Run the handlers for one update inside the caller's request. False when a handler
    failed (the dialog's transaction was rolled back), so the webhook can answer non-2xx and
    Telegram re-delivers the update; PTB itself only logs handler exceptions."""
    failures: list[BaseException] = []
    token = _failures.set(failures)
    try:
        await application.process_update(update)
    finally:
        _failures.reset(token)
    return not failures


@asynccontextmanager
async def running(application: Application | None,
                  status: Availability | None = None) -> AsyncIterator[None]:
    """Run the Application for the duration of the block: `initialize()` (which calls getMe,
    so a wrong token fails the start), `start()`, and polling when it has an Updater. Nothing
    happens when Telegram is off (`application` is None). Telegram unreachable at start does
    not stop the process (payments and reconnection must go on): it starts without it and
    keeps trying in the background; `status` says where it is."""
    if application is None:
        yield
        return

    async def start() -> None:
        await application.initialize()
        await application.start()
        if application.updater is not None:
            await application.updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))

    retry = None
    try:
        retry = await start_or_retry("telegram", start, status or Availability(),
                                     (NetworkError,))
        yield
    finally:
        await stop_retrying(retry)
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        await application.bot.shutdown()  # when initialize() got no further than the Bot


@asynccontextmanager
async def sending_only(application: Application | None,
                       status: Availability | None = None) -> AsyncIterator[None]:
    """Open the Application's Bot for a process that sends but never receives (the
    standalone worker): `initialize()` (getMe: a wrong token fails the start), no handlers
    started, no polling — a second poller would fight the first, and polling deletes the
    webhook. Nothing happens when Telegram is off; unreachable at start, as `running`."""
    if application is None:
        yield
        return
    retry = None
    try:
        retry = await start_or_retry("telegram", application.bot.initialize,
                                     status or Availability(), (NetworkError,))
        yield
    finally:
        await stop_retrying(retry)
        await application.bot.shutdown()


class _RedactToken(logging.Filter):
    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<bot-token>"), ()
        return True


def redact_token_in_logs(token: str) -> None:
    """The token is part of every Bot API URL, and httpx logs each request URL at INFO (PTB
    logs it at DEBUG): keep it out of the logs (ARCHITECTURE.md: no secrets in logs)."""
    for name in ("httpx", "telegram", "telegram.ext.ExtBot"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactToken) and f._token == token for f in logger.filters):
            logger.addFilter(_RedactToken(token))
