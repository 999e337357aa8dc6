"""The channels each outbox message went out on, and what the providers later said of them.

`begin` is written (and committed) before the provider is called: a message is never handed
to a channel it was already accepted or refused on, whatever retries and fallbacks follow.
Only a try that got no answer at all (`attempting`: a timeout, a crash) may be repeated on
the same channel — the at-least-once gap no provider without idempotency keys closes.

Twilio's status callbacks (`apply_status`) only move a delivery forward:
queued → sent → delivered → read, or → undelivered / failed; duplicates and late arrivals
change nothing. A delivery that ends `undelivered` or `failed` while it is still the
message's current channel moves the message to the consumer's next channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import MessageDelivery, OutboundMessage
from discom.notify.routing import fall_back
from discom.sql import insert_if_absent

ATTEMPTING = "attempting"
FAILED_STATUSES = ("undelivered", "failed")
# Twilio's statuses (and ours) in the order a message goes through them.
RANK = {"attempting": 0, "accepted": 1, "scheduled": 1, "queued": 1, "sending": 1, "sent": 2,
        "refused": 3, "undelivered": 3, "failed": 3, "canceled": 3, "delivered": 4, "read": 5}
# Twilio's names for what `message_deliveries.status` records.
STORED = {"accepted": "queued", "scheduled": "queued", "sending": "queued",
          "canceled": "failed"}


def stored_status(provider_status: str) -> str:
    return STORED.get(provider_status, provider_status)


async def begin(session: AsyncSession, message_id: int, channel: str, chat_id: int,
                now: datetime) -> bool:
    """Claim `channel` for this message. False when it already went out (or was refused)
    there: it must not be sent on that channel again."""
    inserted = await insert_if_absent(
        session, MessageDelivery.__table__,
        {"message_id": message_id, "channel": channel, "chat_id": chat_id,
         "status": ATTEMPTING, "created_at": now, "updated_at": now},
        ["message_id", "channel"])
    if inserted:
        return True
    status = await session.scalar(select(MessageDelivery.status).where(
        MessageDelivery.message_id == message_id, MessageDelivery.channel == channel))
    return status == ATTEMPTING


async def accepted(session: AsyncSession, message_id: int, channel: str, now: datetime, *,
                   provider_ref: str | None, status: str = "sent",
                   template_ref: str | None = None) -> None:
    await session.execute(
        update(MessageDelivery)
        .where(MessageDelivery.message_id == message_id, MessageDelivery.channel == channel)
        .values(status=stored_status(status), provider_ref=provider_ref,
                template_ref=template_ref, updated_at=now))


async def refused(session: AsyncSession, message_id: int, channel: str, reason: str,
                  now: datetime) -> None:
    await session.execute(
        update(MessageDelivery)
        .where(MessageDelivery.message_id == message_id, MessageDelivery.channel == channel)
        .values(status="refused", error=reason[:300], updated_at=now))


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    result: str  # unknown | stale | applied | fell_back | failed
    channel: str | None = None


async def apply_status(session: AsyncSession, provider_ref: str, status: str,
                       error_code: str | None, now: datetime) -> StatusOutcome:
    """A provider's status callback for one of our messages."""
    if status not in RANK:
        return StatusOutcome("stale")  # a status we do not track ("receiving", new ones)
    delivery = await session.scalar(
        select(MessageDelivery).where(MessageDelivery.provider_ref == provider_ref)
        .with_for_update())
    if delivery is None:
        return StatusOutcome("unknown")
    if RANK[status] <= RANK.get(delivery.status, 0):
        return StatusOutcome("stale")
    delivery.status, delivery.updated_at = stored_status(status), now
    if error_code:
        delivery.error = f"error {error_code}"[:300]
    if status not in FAILED_STATUSES:
        return StatusOutcome("applied")
    message = await session.get(OutboundMessage, delivery.message_id, with_for_update=True)
    if message is None or message.channel != delivery.channel or message.status != "sent":
        return StatusOutcome("applied")  # it has moved on already
    reason = f"{delivery.channel} {status}" + (f" (error {error_code})" if error_code else "")
    target = await fall_back(session, message, reason, now)
    return StatusOutcome("fell_back", target.channel) if target else StatusOutcome("failed")
