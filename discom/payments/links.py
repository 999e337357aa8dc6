"""Payment links for a consumer's exact total, reused while one is open for the same amount
(per chat: see `reusable_link`). New ones are made in two steps, outside any transaction:
discom/payments/link_requests.py."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import PaymentLink

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
    Bijli knows who paid (discom/notify/audience.py tells that chat of its own payment), so
    a second phone given the first one's link would pay and never be told.
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
