"""Messages owed to consumers, written in the same transaction as the change that causes them.

The chats that speak for a consumer are the chats linked to the account by KYC, and the
chats that asked for one of the account's payment links in the last `RECENT_PAYER_DAYS` days
(they are paying, so they want to know the supply is back). A chat that merely looked the
number up is not told: dues by number are public, the account's events are not.

A notification is one message per consumer and event: it goes to the chat of those the
consumer used last, and falls back along the consumer's chain — their other chats, then SMS
to the registered mobile — when a channel refuses it (discom/notify/routing.py). `priority`
orders each channel's queue: replies to a chatting consumer first, then event
notifications, then reminders.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import Chat, ChatAccount, OutboundMessage, PaymentLink
from discom.sql import insert_if_absent

RECENT_PAYER_DAYS = 30
PRIORITY_REPLY, PRIORITY_NOTIFICATION, PRIORITY_REMINDER = 0, 1, 2
# Every kind of message Bijli may send by SMS besides KYC's: each needs a DLT template in India.
SMS_KINDS = ("bill_due", "overdue_notice", "disconnected", "payment_received",
             "payment_partial", "payment_advance", "payment_failed", "reconnection_started",
             "supply_restored", "meter_armed", "reconnection_delayed", "field_reconnection",
             "reply_bill", "reply_pay", "reply_status", "reply_help", "payment_refunded")


def payers_since(now: datetime) -> datetime:
    """Chats that asked for a payment link since then speak for the account."""
    return now - timedelta(days=RECENT_PAYER_DAYS)


def consumer_chat_ids(consumer_id: Any, since: Any) -> Any:
    """The ids of the chats that speak for the account, as a selectable; `consumer_id` and
    `since` (`payers_since`) are values or bind parameters."""
    linked = select(ChatAccount.chat_id).where(ChatAccount.consumer_id == consumer_id)
    payers = select(PaymentLink.chat_id).where(
        PaymentLink.consumer_id == consumer_id,
        PaymentLink.chat_id.is_not(None),
        PaymentLink.created_at >= since,
    )
    return union(linked, payers)


async def consumer_chats(session: AsyncSession, consumer_id: int, now: datetime) -> list[Chat]:
    """The chats that speak for the account (see the module docstring)."""
    chat_ids = consumer_chat_ids(consumer_id, payers_since(now)).scalar_subquery()
    rows = await session.scalars(select(Chat).where(Chat.id.in_(chat_ids)).order_by(Chat.id))
    return list(rows)


async def chat_may_see_events(session: AsyncSession, chat_id: int, consumer_id: int,
                              now: datetime) -> bool:
    chat_ids = consumer_chat_ids(consumer_id, payers_since(now)).scalar_subquery()
    return bool(await session.scalar(select(Chat.id).where(Chat.id == chat_id,
                                                           Chat.id.in_(chat_ids))))


async def notify_consumer(
    session: AsyncSession, consumer_id: int, kind: str, params: dict[str, Any], *,
    dedupe_key: str, now: datetime,
) -> int:
    """Queue `kind` once per dedupe key: to the head of the consumer's fallback chain, and a
    copy to each other chat paying for the account (discom/notify/routing.py). Returns how
    many messages were queued (0 when there is no way to reach them, or it was queued
    before)."""
    from discom.notify.routing import COPY, recipients

    head, copies = await recipients(session, consumer_id, now)
    # The head's dedupe key is the notification's: not inserted means queued before, and
    # its copies with it (no separate look first: that would cost every payment a query).
    if head is None or not await notify_chat(session, head, kind, params,
                                             consumer_id=consumer_id, dedupe_key=dedupe_key,
                                             now=now):
        return 0
    queued = 1
    for chat in copies:
        queued += await notify_chat(session, chat, kind, params, consumer_id=consumer_id,
                                    dedupe_key=f"{dedupe_key}/{COPY}{chat.id}", now=now)
    return queued


async def notify_chat(
    session: AsyncSession, chat: Chat, kind: str, params: dict[str, Any], *,
    consumer_id: int | None, dedupe_key: str, now: datetime,
    priority: int = PRIORITY_NOTIFICATION, not_before: datetime | None = None,
) -> int:
    inserted = await insert_if_absent(
        session,
        OutboundMessage.__table__,
        {"consumer_id": consumer_id, "chat_id": chat.id, "channel": chat.channel, "kind": kind,
         "params": params, "dedupe_key": dedupe_key, "status": "pending", "tries": 0,
         "priority": priority, "next_attempt_at": not_before or now, "created_at": now},
        ["dedupe_key"],
    )
    return int(inserted)
