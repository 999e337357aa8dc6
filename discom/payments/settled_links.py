"""Cancelling payment links nobody should pay any more.

A link is made for the dues of its moment. When the dues are cleared or cut another way —
cash at the counter, BBPS, another chat's link — a link still open for more than is now owed
would take money a second time (credited as advance, never lost, but a refund to ask for).
So the worker asks Razorpay to cancel every open, unexpired link whose unpaid amount is more
than the account now owes (a consumer who still owes is sent a link for what remains with
the "payment received" notice). Razorpay refuses to
cancel a link already paid: that payment arrives by webhook (or the reconciler) and is
credited as usual. The link's status follows from Razorpay's answer, or from the
`payment_link.cancelled` webhook, whichever comes first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import case, func, select

from discom.db import Database
from discom.models import OPEN_LINK_STATUSES, LedgerEntry, PaymentLink
from discom.payments.razorpay_events import advance_link_status

log = structlog.get_logger(__name__)


class Cancelling(Protocol):
    async def cancel_link(self, link_id: str) -> Any: ...


async def cancel_settled_links(db: Database, gateway: Cancelling, now: datetime, *,
                               limit: int = 100,
                               failures: tuple[type[Exception], ...] = (Exception,)) -> int:
    """Cancel up to `limit` open links asking more than is owed; returns how many.
    A refusal or an unreachable Razorpay is logged and left to the next run."""
    cancelled = 0
    for link_id, provider_link_id in await _settled_open_links(db, now, limit):
        try:
            remote = await gateway.cancel_link(provider_link_id)
        except failures as exc:
            log.info("payment link not cancelled", link_id=link_id, error=str(exc))
            continue
        async with db.uow() as uow:
            link = await uow.session.get(PaymentLink, link_id, with_for_update=True)
            assert link is not None
            advance_link_status(link, remote.status, now)
            await uow.commit()
        cancelled += 1
    if cancelled:
        log.info("cancelled payment links of settled accounts", count=cancelled)
    return cancelled


async def _settled_open_links(db: Database, now: datetime, limit: int) -> list[Any]:
    open_links = (PaymentLink.status.in_(OPEN_LINK_STATUSES), PaymentLink.expire_by > now)
    balances = (
        select(LedgerEntry.consumer_id, func.sum(LedgerEntry.amount_paise).label("owed"))
        .where(LedgerEntry.consumer_id.in_(
            select(PaymentLink.consumer_id).where(*open_links)))
        .group_by(LedgerEntry.consumer_id)
        .subquery())
    async with db.uow() as uow:
        return list((await uow.session.execute(
            select(PaymentLink.id, PaymentLink.provider_link_id)
            .join(balances, balances.c.consumer_id == PaymentLink.consumer_id)
            .where(*open_links, PaymentLink.amount_paise - PaymentLink.amount_paid_paise
                   > case((balances.c.owed > 0, balances.c.owed), else_=0))
            .order_by(PaymentLink.id)
            .limit(limit))).all())
