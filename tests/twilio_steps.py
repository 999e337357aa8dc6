"""Steps shared by the WhatsApp, SMS and delivery tests: Twilio's side of the conversation.

Inbound messages and status callbacks are posted the way Twilio posts them: form-encoded,
with `X-Twilio-Signature` computed by the twilio library's `RequestValidator` over the URL
Twilio was configured with (PUBLIC_BASE_URL + path). What a consumer receives is what the
fake Twilio REST server (tests/fakes/twilio_api.py) recorded, sent by the real twilio client.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator

from discom.clock import utcnow
from discom.models import Chat, ChatAccount, InboundEvent, MessageDelivery, OutboundMessage
from discom.settings import Settings
from tests.fakes.bijli_app import WEBHOOK_SECRET, BijliApp, test_settings
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, FakeTwilioAPI, Message

WHATSAPP_FROM = "whatsapp:+14155238886"
WHATSAPP_PATH = "/webhooks/twilio/whatsapp"
SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
# Approved templates (Content SIDs) configured for two kinds only.
TEMPLATES = {"payment_received": {"en": "HX" + "a1" * 16, "hi": "HX" + "b2" * 16},
             "supply_restored": {"en": "HX" + "c3" * 16, "hi": "HX" + "d4" * 16}}
_sids = itertools.count(1)


def twilio_settings(database_url: str, razorpay: RazorpayServer, twilio: FakeTwilioAPI,
                    **overrides: Any) -> Settings:
    """`bijli_settings` with Twilio on (WhatsApp and SMS) against the fake REST server."""
    values: dict[str, Any] = {
        "razorpay_key_id": razorpay.key_id, "razorpay_key_secret": razorpay.key_secret,
        "razorpay_api_base_url": razorpay.api_base_url,
        "razorpay_webhook_secret": WEBHOOK_SECRET,
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
        "twilio_api_base_url": twilio.base_url, "twilio_whatsapp_from": WHATSAPP_FROM,
        "twilio_sms_from": SMS_FROM, "twilio_whatsapp_templates": TEMPLATES,
        "reminder_quiet_hours": "",
    }
    return test_settings(database_url, **{**values, **overrides})


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


async def post_signed(client: httpx.AsyncClient, public_base_url: str, path: str,
                      form: dict[str, str], *, signature: str | None = None,
                      token: str = AUTH_TOKEN) -> httpx.Response:
    """POST `form` to `path` as Twilio does, signed over PUBLIC_BASE_URL + path."""
    headers = {"X-Twilio-Signature": signature if signature is not None
               else sign(public_base_url.rstrip("/") + path, form, token)}
    return await client.post(path, data=form, headers=headers)


def inbound_whatsapp(sender: str, text: str, sid: str | None = None) -> dict[str, str]:
    """Twilio's form for a WhatsApp message from `sender` (E.164)."""
    sid = sid or new_sid()
    return {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Meena",
            "MessageType": "text", "SmsSid": sid, "WaId": sender.removeprefix("+"),
            "SmsStatus": "received", "Body": text, "To": WHATSAPP_FROM, "NumSegments": "1",
            "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{sender}", "ApiVersion": "2010-04-01"}


def inbound_sms(sender: str, text: str, sid: str | None = None) -> dict[str, str]:
    sid = sid or new_sid()
    return {"ToCountry": "IN", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
            "SmsStatus": "received", "Body": text, "To": SMS_FROM, "NumSegments": "1",
            "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
            "FromCountry": "IN", "ApiVersion": "2010-04-01"}


class Phone:
    """A consumer's phone on WhatsApp or SMS, talking to Bijli through (fake) Twilio."""

    def __init__(self, bijli: BijliApp, twilio: FakeTwilioAPI, number: str,
                 channel: str = "whatsapp") -> None:
        self.bijli, self.twilio, self.number, self.channel = bijli, twilio, number, channel
        self.seen = 0

    @property
    def address(self) -> str:
        return f"whatsapp:{self.number}" if self.channel == "whatsapp" else self.number

    async def send(self, text: str, sid: str | None = None) -> httpx.Response:
        """Deliver one message to the webhook (and let the worker send the replies)."""
        if self.channel == "whatsapp":
            self.twilio.open_whatsapp_window(self.number)
            form, path = inbound_whatsapp(self.number, text, sid), WHATSAPP_PATH
        else:
            form, path = inbound_sms(self.number, text, sid), SMS_PATH
        response = await post_signed(self.bijli.client, self.bijli.services.settings
                                     .public_base_url, path, form)
        assert response.status_code == 200, response.text
        await self.bijli.drain()
        return response

    def received(self) -> list[Message]:
        return self.twilio.messages(self.address)

    def new(self) -> list[Message]:
        """Messages received since the last call."""
        found = self.received()
        fresh, self.seen = found[self.seen:], len(found)
        return fresh

    async def ask(self, text: str) -> str:
        """Send `text`; the text of what came back."""
        await self.send(text)
        return "\n".join(m.body or "" for m in self.new())


async def post_status(bijli: BijliApp, twilio: FakeTwilioAPI, sid: str,
                      status: str | None = None, error_code: int | None = None
                      ) -> httpx.Response:
    """Twilio's status callback for message `sid`, signed over its StatusCallback URL."""
    url, form = twilio.status_callback(sid, status, error_code)
    parts = urlsplit(url)
    public = f"{parts.scheme}://{parts.netloc}"
    assert public == bijli.services.settings.public_base_url
    return await post_signed(bijli.client, public, parts.path, form)


async def chat_of(bijli: BijliApp, channel: str, external_id: str) -> Chat | None:
    async with bijli.db.uow() as uow:
        return await uow.session.scalar(select(Chat).where(
            Chat.channel == channel, Chat.external_id == external_id))


async def link_chat(bijli: BijliApp, channel: str, external_id: str, consumer_no: str) -> None:
    """Make the chat the account holder's (what KYC does): only a holder's chats are told of
    the account's events (discom/notify/audience.py)."""
    chat = await chat_of(bijli, channel, external_id)
    assert chat is not None
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        uow.session.add(ChatAccount(chat_id=chat.id, consumer_id=consumer_id,
                                    linked_at=chat.created_at))
        await uow.commit()


async def age_chat(bijli: BijliApp, channel: str, external_id: str, hours: float) -> None:
    """The chat last wrote `hours` ago (its WhatsApp window closes after 24)."""
    async with bijli.db.uow() as uow:
        await uow.session.execute(update(Chat).where(
            Chat.channel == channel, Chat.external_id == external_id).values(
            last_inbound_at=utcnow() - timedelta(hours=hours)))
        await uow.commit()


async def outbox(bijli: BijliApp, kind: str | None = None) -> list[OutboundMessage]:
    async with bijli.db.uow() as uow:
        query = select(OutboundMessage).order_by(OutboundMessage.id)
        if kind is not None:
            query = query.where(OutboundMessage.kind == kind)
        return list((await uow.session.scalars(query)).all())


async def deliveries(bijli: BijliApp, message_id: int) -> list[tuple[str, str]]:
    """(channel, status) of each channel the message went out on, in order."""
    async with bijli.db.uow() as uow:
        rows = await uow.session.execute(
            select(MessageDelivery.channel, MessageDelivery.status)
            .where(MessageDelivery.message_id == message_id).order_by(MessageDelivery.id))
        return [tuple(row) for row in rows]


async def written(bijli: BijliApp) -> dict[str, int]:
    """Row counts of what a webhook may write."""
    async with bijli.db.uow() as uow:
        return {model.__tablename__: await uow.session.scalar(
            select(func.count()).select_from(model))
            for model in (InboundEvent, Chat, OutboundMessage, MessageDelivery)}


def variables(message: Message) -> dict[str, str]:
    raw = message.form.get("ContentVariables", ["{}"])[0]
    return json.loads(raw)
