"""Who hears about an account, and what a chat that paid may see (ARCHITECTURE.md decision 10).

The one rule, used by routing (event notifications), reminders and `/status`:

- An account's notices go to its *holder*: the chats linked to it by KYC and, by SMS, its
  registered mobile. Typing the consumer number or asking for a payment link never makes a
  chat a recipient: anyone can type a number, and a notice names amounts and events.
- A chat that paid through a link made for it (`payment_links.chat_id`) is told about *that
  payment* — received, and the reconnection it caused — as its own copy, and sees only the
  timeline events of that payment (`timeline_events.payment_id`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import ChatAccount, Payment, PaymentLink, TimelineEvent


def holder_chat_ids(consumer_id: Any) -> Any:
    """The ids of the account holder's chats, as a selectable; `consumer_id` is a value or a
    bind parameter."""
    return select(ChatAccount.chat_id).where(ChatAccount.consumer_id == consumer_id)


def holder_chats_between(low: int, high: int) -> Any:
    """(consumer_id, chat_id) of the holders' chats of the accounts with ids in [low, high],
    for work done over many accounts at once (reminders)."""
    return select(ChatAccount.consumer_id.label("consumer_id"),
                  ChatAccount.chat_id.label("chat_id")).where(
        ChatAccount.consumer_id >= low, ChatAccount.consumer_id <= high)


async def is_holder_chat(session: AsyncSession, chat_id: int, consumer_id: int) -> bool:
    return bool(await session.scalar(select(ChatAccount.chat_id).where(
        ChatAccount.chat_id == chat_id, ChatAccount.consumer_id == consumer_id)))


async def payer_chat_of_link(session: AsyncSession, link_id: int | None) -> int | None:
    """The chat a payment link was made for (None: no link, or one made without a chat)."""
    if link_id is None:
        return None
    link = await session.get(PaymentLink, link_id)  # mostly in the session already
    return None if link is None else link.chat_id


async def payer_chat_of_payment(session: AsyncSession, payment_id: int | None) -> int | None:
    """The chat that paid `payment_id` through its own link, if it was paid so."""
    if payment_id is None:
        return None
    link_id = await session.scalar(select(Payment.payment_link_id).where(
        Payment.id == payment_id))
    return await payer_chat_of_link(session, link_id)


def events_paid_from(chat_id: int, consumer_id: int) -> Any:
    """The condition on `timeline_events` of what a paying chat may see: the events of the
    payments it made through its own links."""
    paid_by_chat = (select(Payment.id)
                    .join(PaymentLink, PaymentLink.id == Payment.payment_link_id)
                    .where(Payment.consumer_id == consumer_id, PaymentLink.chat_id == chat_id))
    return TimelineEvent.payment_id.in_(paid_by_chat)
