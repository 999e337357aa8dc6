"""The WhatsApp channel, through Twilio: the same dialog as Telegram, with numbered menus.

Inbound (`POST /webhooks/twilio/whatsapp`, signature checked by the router): Twilio's form
becomes one `Incoming` for the dialog, with `delivery_id=MessageSid`, so a re-delivered
message gets no second answer. "hi" / "menu" start, as everywhere. The webhook must answer
within Twilio's 15 s, and replies go through the REST API anyway, so the turn's replies are
queued in the outbox (priority 0, ahead of any notification or reminder) right after the
dialog commits its turn, and the webhook answers an empty `<Response/>`; the worker's
WhatsApp sender delivers them within its pacing. (A crash between the two commits loses that
turn's replies — the same window Telegram's in-request sending has.)

Rendering: buttons become numbered lines ("1. बकाया देखें"), which the dialog maps back when
the consumer types the number; a turn's text replies are joined into one WhatsApp message
(fewer sends against the sender's rate); a payment QR code goes as `media_url` — Twilio
fetches images by URL, so it is served signed at `GET /media/qr/{token}.png`
(`bot.channels.media`) — with the text as its caption.

Outbound notifications (`WhatsAppMessenger`): inside the 24-hour customer-service window
(the chat's `last_inbound_at`, kept by the dialog on every inbound message; a few minutes of
margin so a message does not reach Twilio just as the window shuts) free text; outside it the
approved template configured for the kind and language (`TWILIO_WHATSAPP_TEMPLATES`,
`content_sid` + `content_variables`); with none configured the message is `Undeliverable`
here and moves on along the consumer's fallback chain — in the end to SMS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from bot.channels.console import render_plain
from bot.channels.media import QrLinks
from bot.dialog.engine import DialogService
from bot.dialog.messages import Incoming, Reply
from bot.notifications import REPLY, render_note, template_variables
from discom.clock import utcnow
from discom.db import Database
from discom.models import Chat
from discom.notify.outbox import PRIORITY_REPLY, notify_chat
from discom.notify.sender import Note, Sent, Undeliverable
from discom.notify.twilio_messages import TwilioMessages
from discom.worker.wakeup import Wakeup

CHANNEL = "whatsapp"
PREFIX = "whatsapp:"
WINDOW = timedelta(hours=24)
WINDOW_MARGIN = timedelta(minutes=5)
BODY_LIMIT = 1600  # Twilio refuses longer bodies (21617)

log = structlog.get_logger(__name__)


class InvalidInbound(ValueError):
    """A form that is not a Twilio inbound message."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    sid: str
    sender: str  # E.164, without the "whatsapp:" prefix
    text: str | None  # None: media or a location without any text


def parse_inbound(form: Mapping[str, str], prefix: str = PREFIX) -> InboundMessage:
    """Twilio's inbound message fields (From, Body, MessageSid, NumMedia, ButtonText...)."""
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not sid or len(sid) > 64:
        raise InvalidInbound("MessageSid is missing")
    if prefix:
        if not sender.startswith(prefix):
            raise InvalidInbound(f"From is not a {prefix} address")
        sender = sender.removeprefix(prefix)
    if not (sender.startswith("+") and sender[1:].isdigit() and 8 <= len(sender) <= 16):
        raise InvalidInbound("From is not an E.164 number")
    # A quick-reply button of a template answers with its text (and a payload).
    body = form.get("ButtonText") or form.get("Body") or ""
    media = (form.get("NumMedia") or "0").strip()
    has_media = media.isdigit() and int(media) > 0
    text = None if not body.strip() and (has_media or form.get("Latitude")) else body
    return InboundMessage(sid, sender, text)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One WhatsApp message: text, and the link whose QR code goes as its image."""

    text: str
    qr_of: str | None = None


def render_turn(replies: Sequence[Reply]) -> list[Outgoing]:
    """A turn's replies as WhatsApp messages: text replies joined, an image on its own."""
    messages: list[Outgoing] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            messages.extend(Outgoing(chunk) for chunk in _chunks("\n\n".join(pending)))
            pending.clear()

    for reply in replies:
        text = render_plain(reply)
        if reply.image_png is not None and reply.link:
            flush()
            first, *rest = _chunks(text)
            messages.append(Outgoing(first, reply.link))
            messages.extend(Outgoing(chunk) for chunk in rest)
        else:
            pending.append(text)
    flush()
    return messages


def _chunks(text: str, limit: int = BODY_LIMIT) -> list[str]:
    from bot.channels.telegram_replies import split_text

    return split_text(text, limit) or [text]


class WhatsAppChannel:
    """Takes Twilio's inbound WhatsApp messages to the dialog and queues its replies."""

    def __init__(self, dialog: DialogService, db: Database, wakeup: Wakeup, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._dialog, self._db, self._wakeup, self._clock = dialog, db, wakeup, clock

    async def take(self, message: InboundMessage) -> bool:
        """Answer one message; False when it was a re-delivery (nothing done)."""
        outcome = await self._dialog.handle(
            Incoming(CHANNEL, message.sender, text=message.text), delivery_id=message.sid)
        if outcome.duplicate:
            return False
        outgoing = render_turn(outcome.replies)
        if not outgoing:
            return True
        now = self._clock()
        async with self._db.uow() as uow:
            chat = await uow.session.scalar(select(Chat).where(
                Chat.channel == CHANNEL, Chat.external_id == message.sender))
            assert chat is not None  # the dialog opened it
            for n, item in enumerate(outgoing):
                params = {"text": item.text} | ({"qr_of": item.qr_of} if item.qr_of else {})
                await notify_chat(uow.session, chat, REPLY, params, consumer_id=None,
                                  dedupe_key=f"reply/{CHANNEL}/{message.sid}/{n}", now=now,
                                  priority=PRIORITY_REPLY)
            await self._wakeup.notify_on_commit(uow.session)
            await uow.commit()
        return True


class WhatsAppMessenger:
    """Delivers outbox notes on WhatsApp (discom.notify.sender.Messenger)."""

    def __init__(self, twilio: TwilioMessages, sender: str,
                 templates: Mapping[str, Mapping[str, str]], media: QrLinks | None = None, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._twilio = twilio
        self._from = sender if sender.startswith(PREFIX) else PREFIX + sender
        self._templates, self._media, self._clock = templates, media, clock

    def in_window(self, note: Note) -> bool:
        last = note.last_inbound_at
        return last is not None and self._clock() - last < WINDOW - WINDOW_MARGIN

    async def deliver(self, note: Note) -> Sent:
        to = PREFIX + note.chat_ref
        if self.in_window(note):
            reply = render_note(note)
            qr_of = note.params.get("qr_of") if note.kind == REPLY else None
            media = [self._media.url(qr_of)] if qr_of and self._media is not None else None
            body = render_plain(Reply(reply.text, link=reply.link))
            accepted = await self._twilio.send(to=to, from_=self._from, body=body[:BODY_LIMIT],
                                               media_url=media)
            return Sent(accepted.sid, accepted.status)
        if note.kind == REPLY:
            raise Undeliverable("reply outside the 24-hour window")
        content_sid = self._templates.get(note.kind, {}).get(note.language)
        if not content_sid:
            raise Undeliverable(f"outside the 24-hour window, no approved template for "
                                f"{note.kind}/{note.language}")
        accepted = await self._twilio.send(to=to, from_=self._from, content_sid=content_sid,
                                           content_variables=template_variables(note))
        return Sent(accepted.sid, accepted.status, template_ref=content_sid)
