"""Which chats a notification goes to, and where it goes when a chat cannot take it.

Only the account holder speaks for an account (`discom.notify.audience`): the chats linked
to it by KYC, and its registered mobile by SMS. A chat that paid through its own link gets
its own copy of what that payment caused, and nothing else (`notify_consumer`'s `payer_chat_id`).

- The holder is reached along a fallback chain: their linked chats, the one used last
  first, then an SMS to the registered mobile. A notification goes to the head of the chain
  as one message; when a channel refuses it — a Telegram 403 (bot blocked), WhatsApp outside
  the 24-hour window with no approved template, a `failed` / `undelivered` status callback —
  it moves to the next chat whose channel it has not been on yet (`message_deliveries` is
  unique per message and channel: nothing is sent twice on one channel).
- A paying chat's copy (dedupe key `<key>/copy-<chat>`) is delivered where it was asked or
  not at all: it does not fall back. A reply to a chatting consumer does not fall back
  either: it only makes sense where it was asked.

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
from discom.models import Chat, Consumer, MessageDelivery, OutboundMessage
from discom.notify.audience import holder_chat_ids
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


# Built once (constructing a SELECT costs more than running it); run with `consumer_id`.
_HOLDER_CHATS = select(Chat).where(Chat.id.in_(
    holder_chat_ids(bindparam("consumer_id")).scalar_subquery()))


async def holder_chats(session: AsyncSession, consumer_id: int,
                       routing: Routing | None = None) -> list[Chat]:
    """The holder's chats (the fallback chain before SMS), the one used last first, on
    channels this deployment can deliver on."""
    routing = routing or routing_of(session)
    rows = (await session.scalars(_HOLDER_CHATS, {"consumer_id": consumer_id})).all()
    return sorted((chat for chat in rows if routing.allows(chat.channel)),
                  key=lambda chat: (chat.last_inbound_at, chat.id), reverse=True)


async def recipient(session: AsyncSession, consumer_id: int, now: datetime) -> Chat | None:
    """Where a new notification goes: the head of the holder's chain (None: nowhere to
    reach them)."""
    routing = routing_of(session)
    chain = await holder_chats(session, consumer_id, routing)
    if chain:
        return chain[0]
    return await sms_chat_for(session, consumer_id, routing.default_language, now, routing)


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
    """The next chat in the holder's chain on a channel this message has not been on."""
    if message.consumer_id is None or message.kind == REPLY or is_copy(message):
        return None
    routing = routing_of(session)
    tried = set((await session.scalars(select(MessageDelivery.channel).where(
        MessageDelivery.message_id == message.id))).all()) | {message.channel}
    for chat in await holder_chats(session, message.consumer_id, routing):
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
