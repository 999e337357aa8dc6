"""Rendering the dialog's `Reply` as Telegram messages, and sending them.

Rendering is pure (`render` turns one `Reply` into the Bot API calls it needs), so its rules
are tested without a network:

- text is sent as plain text, never with a parse mode: consumer data (names, addresses) may
  hold `<`, `&` or `*`, which HTML or Markdown parsing would reject or mangle;
- texts over Telegram's 4096-character limit are split, at a line break where possible;
- `buttons` become an inline keyboard whose callback_data is the button id (at most 64 bytes);
- `link` is shown in the text (appended, unless the text already holds it) rather than on a
  URL button: Telegram refuses URL buttons to hosts such as 127.0.0.1, which the payment
  sandbox uses, while a link in the text always arrives (Telegram makes it clickable);
- `image_png` is sent as a photo with the text as caption, or, when the text is longer than a
  caption may be (1024), as a photo followed by the text;
- `ask_contact` shows a one-time reply keyboard with Telegram's "share my phone number" button.

Sending (`send_replies`) never lets a delivery problem escape into the update handler: by the
time replies are sent the dialog has committed its turn, so raising would only make Telegram
re-deliver an update the dialog then ignores as a duplicate. A consumer who blocked the bot
(`Forbidden`) or a chat Telegram does not know (`BadRequest`) is logged and dropped; a rate
limit (`RetryAfter`) or a network failure (`TimedOut`, `NetworkError`) is logged and the rest of
that turn's replies are dropped. These replies are lost for now; the durable outbound-message
table of ARCHITECTURE.md decision 5 is where they will be retried from.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import structlog
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.dialog.messages import Reply
from bot.locales import translate

log = structlog.get_logger(__name__)

TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
CALLBACK_DATA_LIMIT = 64  # bytes
PHOTO_FILENAME = "bijli.png"

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Bot API call: a text message, or a photo (with `text` as its caption, maybe empty)."""

    text: str
    markup: Markup | None = None
    photo: bytes | None = None


def render(reply: Reply) -> list[Outgoing]:
    """The messages one `Reply` becomes, in sending order; the keyboard rides on the last text."""
    body = reply.text
    if reply.link and reply.link not in body:
        body += "\n" + reply.link
    inline = inline_keyboard(reply)
    contact = contact_keyboard() if reply.ask_contact else None
    # One message carries one keyboard: with both, the inline buttons stay with the text they
    # belong to and the contact button follows in a short message of its own.
    markup = inline or contact
    follow_up = [Outgoing(_both_languages("telegram.share_contact_hint"), contact)] if (
        inline and contact) else []
    if reply.image_png is not None:
        if utf16_len(body) <= CAPTION_LIMIT:
            return [Outgoing(body, markup, reply.image_png), *follow_up]
        return [Outgoing("", None, reply.image_png), *_texts(body, markup), *follow_up]
    return [*_texts(body, markup), *follow_up]


def _texts(body: str, markup: Markup | None) -> list[Outgoing]:
    chunks = split_text(body, TEXT_LIMIT)
    return [Outgoing(chunk, markup if n == len(chunks) - 1 else None)
            for n, chunk in enumerate(chunks)]


def inline_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's button rows; a button id over 64 bytes is a programming error, refused here
    rather than by Telegram (which would refuse the whole message)."""
    if not reply.buttons:
        return None
    for button in reply.flat_buttons:
        if len(button.id.encode("utf-8")) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"button id over {CALLBACK_DATA_LIMIT} bytes: {button.id!r}")
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.id) for b in row] for row in reply.buttons]
    )


def contact_keyboard() -> ReplyKeyboardMarkup:
    """Telegram's own "share my phone number" button. The channel does not know the chat's
    language, so the label is in both, as the language prompt is."""
    button = KeyboardButton(_both_languages("telegram.share_contact", " / "), request_contact=True)
    return ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)


def _both_languages(key: str, separator: str = "\n") -> str:
    return separator.join(translate(language, key) for language in ("hi", "en"))


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units): an emoji counts twice."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split into pieces of at most `limit` UTF-16 units, preferring a line break, then a
    space, and never separating a Devanagari vowel sign from its consonant. Blank pieces go."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = _cut_point(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def _cut_point(text: str, limit: int) -> int:
    """Index before which `text` fits in `limit` units, moved back to a sensible boundary."""
    units, fit = 0, 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
        fit = index + 1
    window = text[:fit]
    for boundary in ("\n", " "):
        at = window.rfind(boundary)
        if at > fit // 2:
            return at + 1
    while fit > 1 and _joins_previous(text[fit]):
        fit -= 1
    return max(fit, 1)  # always progress, even with a limit below one character


def _joins_previous(char: str) -> bool:
    """Combining marks (Devanagari matras, virama) and zero-width joiners."""
    return unicodedata.category(char).startswith("M") or char in "\u200c\u200d"


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply], *, update_id: int
                       ) -> None:
    """Send a turn's replies in order; on the first failure log it and drop the rest, since
    later replies ("what next?") make no sense without the earlier ones."""
    messages = [message for reply in replies for message in render(reply)]
    for outgoing in messages:
        try:
            await send_outgoing(bot, chat_id, outgoing)
        except TelegramError as error:
            _log_send_failure(error, update_id)
            return


async def send_outgoing(bot: Bot, chat_id: int, outgoing: Outgoing) -> None:
    if outgoing.photo is not None:
        await bot.send_photo(chat_id, photo=BytesIO(outgoing.photo), filename=PHOTO_FILENAME,
                             caption=outgoing.text or None, reply_markup=outgoing.markup)
    else:
        await bot.send_message(chat_id, outgoing.text, reply_markup=outgoing.markup)


def _log_send_failure(error: TelegramError, update_id: int) -> None:
    """No chat id or text in the log (privacy): the update id is enough to trace it."""
    if isinstance(error, Forbidden):
        log.info("telegram.reply_dropped.bot_blocked", update_id=update_id)
    elif isinstance(error, RetryAfter):
        log.warning("telegram.reply_dropped.rate_limited", update_id=update_id,
                    error=error.message)
    elif isinstance(error, BadRequest):
        log.error("telegram.reply_dropped.bad_request", update_id=update_id,
                  error=error.message)
    elif isinstance(error, NetworkError):  # TimedOut included
        log.warning("telegram.reply_dropped.network", update_id=update_id,
                    error=type(error).__name__)
    else:
        log.error("telegram.reply_dropped", update_id=update_id, error=type(error).__name__)
