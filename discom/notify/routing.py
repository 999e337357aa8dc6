"""Which chats a notification goes to, and where it goes when a chat cannot take it.

Two kinds of chat speak for an account (`discom.notify.outbox.consumer_chats`): the
consumer's own, linked by KYC, and the chats that asked for one of its payment links lately
(a son paying his father's bill wants to know the supply is back).

- The consumer is reached along a fallback chain: their linked chats, the one used last
  first (or, with none linked, the payer chat used last), then an SMS to the registered
  mobile. A notification goes to the head of the chain as one message; when a channel
  refuses it — a Telegram 403 (bot blocked), WhatsApp outside the 24-hour window with no
  approved template, a `failed` / `undelivered` status callback — it moves to the next chat
  whose channel it has not been on yet (`message_deliveries` is unique per message and
  channel: nothing is sent twice on one channel).
- Every other payer chat gets a copy of event notifications (dedupe key `<key>/copy-<chat>`),
  delivered where it was asked or not at all: it does not fall back. Reminders are for the
  consumer only. A reply to a chatting consumer does not fall back either: it only makes
  sense where it was asked.

Only channels this deployment can deliver on count (Telegram configured, Twilio's WhatsApp
and SMS senders): set once by the composition root on the `Database` (`configure_routing`)
and read from the session, so the domain code that notifies (payments, reconnection) needs
no knowledge of channels. Without configuration every chat's channel counts and there is no
SMS fallback (the behaviour before WhatsApp and SMS existed).

An SMS goes to a chat like any other message: the registered mobile's `sms` chat, opened by
Bijli when first needed, in the language of the chat the message fell back from. Such a chat
has never written to Bijli: its `last_inbound_at` is `NEVER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.db import Database
from discom.models import Chat, ChatAccount, Consumer, MessageDelivery, OutboundMessage
from discom.notify.outbox import consumer_chat_ids, payers_since
from discom.sql import insert_if_absent

ROUTING_KEY = "bijli.routing"
SMS = "sms"
REPLY = "reply"
COPY = "copy-"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Routing:
    """What this deployment can deliver on. `channels=None`: every channel."""

    channels: frozenset[str] | None = None
    sms_fallback: bool = False
    default_language: str = "hi"

    def allows(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels


DEFAULT_ROUTING = Routing()


def configure_routing(db: Database, routing: Routing) -> None:
    """Every session of `db` routes by `routing` from now on."""
    db.sessionmaker.configure(info={ROUTING_KEY: routing})


def routing_of(session: AsyncSession) -> Routing:
    return session.info.get(ROUTING_KEY, DEFAULT_ROUTING)


# Built once (constructing a SELECT costs more than running it); run with `consumer_id` and
# `payers_since`.
_SPEAKING_CHATS = (
    select(Chat, Chat.id.in_(select(ChatAccount.chat_id).where(
        ChatAccount.consumer_id == bindparam("consumer_id"))).label("linked"))
    .where(Chat.id.in_(consumer_chat_ids(
        bindparam("consumer_id"), bindparam("payers_since")).scalar_subquery())))


async def speaking_chats(session: AsyncSession, consumer_id: int, now: datetime,
                         routing: Routing | None = None) -> tuple[list[Chat], list[Chat]]:
    """(linked chats, payer chats not linked), each the one used last first, on channels
    this deployment can deliver on."""
    routing = routing or routing_of(session)
    rows = (await session.execute(_SPEAKING_CHATS, {
        "consumer_id": consumer_id, "payers_since": payers_since(now)})).all()
    chats = sorted(((chat, is_linked) for chat, is_linked in rows
                    if routing.allows(chat.channel)),
                   key=lambda row: (row[0].last_inbound_at, row[0].id), reverse=True)
    return ([c for c, is_linked in chats if is_linked],
            [c for c, is_linked in chats if not is_linked])


def _chain(linked: list[Chat], payers: list[Chat]) -> list[Chat]:
    """The consumer's own chain (before SMS): the linked chats, else the last payer chat."""
    return linked or payers[:1]


async def recipients(session: AsyncSession, consumer_id: int, now: datetime
                     ) -> tuple[Chat | None, list[Chat]]:
    """Where a new notification goes: the head of the consumer's chain (None: nowhere to
    reach them), and the other payer chats that get a copy."""
    routing = routing_of(session)
    linked, payers = await speaking_chats(session, consumer_id, now, routing)
    own = _chain(linked, payers)
    copies = [c for c in payers if c not in own]
    if own:
        return own[0], copies
    return await sms_chat_for(session, consumer_id, routing.default_language, now,
                              routing), copies


def is_copy(message: OutboundMessage) -> bool:
    return message.dedupe_key.rsplit("/", 1)[-1].startswith(COPY)


async def sms_chat_for(session: AsyncSession, consumer_id: int, language: str, now: datetime,
                       routing: Routing | None = None) -> Chat | None:
    """The `sms` chat of the consumer's registered mobile, opened if need be; None when SMS
    is off or the consumer has no mobile."""
    routing = routing or routing_of(session)
    if not routing.sms_fallback:
        return None
    mobile = await session.scalar(select(Consumer.mobile).where(Consumer.id == consumer_id))
    if not mobile:
        return None
    await insert_if_absent(
        session, Chat.__table__,
        {"channel": SMS, "external_id": mobile, "language": language, "language_chosen": False,
         "created_at": now, "last_inbound_at": NEVER},
        ["channel", "external_id"])
    return await session.scalar(select(Chat).where(Chat.channel == SMS,
                                                   Chat.external_id == mobile))


async def next_hop(session: AsyncSession, message: OutboundMessage, now: datetime
                   ) -> Chat | None:
    """The next chat in the consumer's chain on a channel this message has not been on."""
    if message.consumer_id is None or message.kind == REPLY or is_copy(message):
        return None
    routing = routing_of(session)
    tried = set((await session.scalars(select(MessageDelivery.channel).where(
        MessageDelivery.message_id == message.id))).all()) | {message.channel}
    linked, payers = await speaking_chats(session, message.consumer_id, now, routing)
    for chat in _chain(linked, payers):
        if chat.channel not in tried:
            return chat
    if SMS in tried:
        return None
    current = await session.get(Chat, message.chat_id)
    language = current.language if current is not None else routing.default_language
    return await sms_chat_for(session, message.consumer_id, language, now, routing)


async def fall_back(session: AsyncSession, message: OutboundMessage, reason: str,
                    now: datetime) -> Chat | None:
    """Move the message to its next hop (pending there at once), or fail it when there is
    none. Returns the new chat, or None when the message failed."""
    target = await next_hop(session, message, now)
    message.last_error, message.lease_until = reason[:300], None
    if target is None:
        message.status = "failed"
        return None
    message.chat_id, message.channel = target.id, target.channel
    message.status, message.tries, message.next_attempt_at = "pending", 0, now
    message.sent_at = None
    return target
