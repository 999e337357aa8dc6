"""Messages owed to consumers, written in the same transaction as the change that causes them.

Who is told is `discom.notify.audience`'s rule: the account holder (KYC-linked chats, then
SMS to the registered mobile), and a chat that paid through its own link about that payment
only. A notification is one message per consumer and event: it goes to the holder's chat used
last, and falls back along the holder's chain when a channel refuses it
(discom/notify/routing.py). `priority` orders each channel's queue: replies to a chatting
consumer first, then event notifications, then reminders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import Chat, OutboundMessage
from discom.sql import insert_if_absent

PRIORITY_REPLY, PRIORITY_NOTIFICATION, PRIORITY_REMINDER = 0, 1, 2
# Every kind of message Bijli may send by SMS besides KYC's: each needs a DLT template in India.
SMS_KINDS = ("bill_due", "overdue_notice", "disconnected", "payment_received",
             "payment_partial", "payment_advance", "payment_failed", "reconnection_started",
             "supply_restored", "meter_armed", "reconnection_delayed", "field_reconnection",
             "reply_bill", "reply_pay", "reply_status", "reply_help",
             "bank_account_changed", "payment_refunded")


async def notify_consumer(
    session: AsyncSession, consumer_id: int, kind: str, params: dict[str, Any], *,
    dedupe_key: str, now: datetime, payer_chat_id: int | None = None,
) -> int:
    """Queue `kind` once per dedupe key to the head of the holder's fallback chain
    (discom/notify/routing.py), and a copy to `payer_chat_id`, the chat that paid through its
    own link for what this notice is about, unless it is that head. Returns how many messages
    were queued (0 when there is no way to reach anyone, or it was queued before)."""
    from discom.notify.routing import COPY, recipient

    head = await recipient(session, consumer_id, now)
    queued = 0
    if head is not None:
        queued += await notify_chat(session, head, kind, params, consumer_id=consumer_id,
                                    dedupe_key=dedupe_key, now=now)
        if not queued:  # queued before, and the payer's copy with it
            return 0
    if payer_chat_id is not None and (head is None or head.id != payer_chat_id):
        payer = await session.get(Chat, payer_chat_id)
        if payer is not None:
            queued += await notify_chat(session, payer, kind, params, consumer_id=consumer_id,
                                        dedupe_key=f"{dedupe_key}/{COPY}{payer.id}", now=now)
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
