"""Payment links for a consumer's exact total, reused while one is open for the same amount
(per chat: see `reusable_link`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import Consumer, PaymentLink

# A link about to expire is not offered: the consumer needs time to pay it.
MIN_REMAINING = timedelta(minutes=10)


class Gateway(Protocol):
    """What Bijli needs of a payment gateway (discom.payments.gateway.RazorpayGateway)."""

    async def create_link(self, **kwargs: Any) -> Any: ...

    async def fetch_link(self, link_id: str) -> Any: ...


@dataclass(frozen=True)
class LinkSettings:
    callback_url: str
    lifetime: timedelta = timedelta(hours=24)


def new_reference(consumer_no: str) -> str:
    """Razorpay's reference_id: unique, at most 40 characters."""
    return f"BJ{consumer_no}-{secrets.token_hex(6)}"[:40]


async def reusable_link(session: AsyncSession, consumer_id: int, amount_paise: int,
                        now: datetime, chat_id: int | None = None) -> PaymentLink | None:
    """The consumer's open link for `amount_paise` that `chat_id` may be given again: its own,
    or one no chat has asked for yet.

    A link another chat asked for is not handed on: the chat a link was made for is how
    Bijli knows who is paying (discom.notify.outbox tells the chats of the account's links),
    so a second phone given the first one's link would pay and never be told.
    """
    query = (
        select(PaymentLink)
        .where(PaymentLink.consumer_id == consumer_id,
               PaymentLink.amount_paise == amount_paise,
               PaymentLink.status == "created",
               PaymentLink.expire_by > now + MIN_REMAINING)
        .order_by(PaymentLink.created_at.desc())
        .limit(1)
    )
    if chat_id is not None:
        query = query.where(or_(PaymentLink.chat_id == chat_id, PaymentLink.chat_id.is_(None)))
    return await session.scalar(query)


async def link_for_total(
    session: AsyncSession, gateway: Gateway, settings: LinkSettings, consumer: Consumer,
    amount_paise: int, chat_id: int | None, now: datetime, *, for_holder: bool,
) -> PaymentLink:
    """An open link for exactly `amount_paise`: the one already made for this chat, or a new
    one (see `reusable_link`).

    The gateway is called inside the caller's transaction, which holds the chat's row lock:
    a second "pay" from the same chat waits for this one and then reuses its link.
    `for_holder`: the link is for the account holder's own chat, so it may carry their name
    and mobile; anyone else's link names no customer.
    """
    existing = await reusable_link(session, consumer.id, amount_paise, now, chat_id)
    if existing is not None:
        if chat_id is not None and existing.chat_id is None:
            existing.chat_id = chat_id
        return existing
    reference = new_reference(consumer.consumer_no)
    created = await gateway.create_link(
        amount_paise=amount_paise, reference_id=reference,
        description=f"Electricity dues, consumer {consumer.consumer_no}",
        customer_name=consumer.name if for_holder else None,
        customer_contact=consumer.mobile if for_holder else None,
        consumer_no=consumer.consumer_no, expire_by=now + settings.lifetime,
        callback_url=settings.callback_url)
    link = PaymentLink(
        consumer_id=consumer.id, chat_id=chat_id, provider_link_id=created.id,
        reference_id=reference, amount_paise=amount_paise, amount_paid_paise=0,
        status="created", short_url=created.short_url, expire_by=now + settings.lifetime,
        created_at=now, updated_at=now)
    session.add(link)
    await session.flush()
    return link
