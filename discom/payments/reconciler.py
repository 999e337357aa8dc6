"""Recovering missed webhooks: ask Razorpay about links still open after a while.

Razorpay retries webhooks for a day, but a webhook can still be lost (disabled endpoint,
misconfigured secret). Links left `created`/`partially_paid` for `after` are fetched, oldest
checked first, and any captured payment on them is posted exactly as the webhook would have.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from discom.db import Database
from discom.models import OPEN_LINK_STATUSES, PaymentLink
from discom.payments.links import Gateway
from discom.payments.posting import IncomingPayment, post_payment
from discom.payments.razorpay_events import advance_link_status

log = structlog.get_logger(__name__)


async def reconcile_open_links(db: Database, gateway: Gateway, now: datetime, *,
                               after: timedelta = timedelta(minutes=10), limit: int = 100,
                               unavailable: tuple[type[Exception], ...] = (Exception,)) -> int:
    """Check up to `limit` stale open links; returns how many payments were recovered."""
    async with db.uow() as uow:
        links = (await uow.session.scalars(
            select(PaymentLink.id)
            .where(PaymentLink.status.in_(OPEN_LINK_STATUSES),
                   PaymentLink.created_at <= now - after,
                   PaymentLink.updated_at <= now - after)
            .order_by(PaymentLink.updated_at)
            .limit(limit))).all()
    recovered = 0
    for link_id in links:
        try:
            recovered += await _reconcile_one(db, gateway, link_id, now)
        except unavailable as exc:
            log.warning("payment link check failed; will retry", link_id=link_id, error=str(exc))
    return recovered


async def _reconcile_one(db: Database, gateway: Gateway, link_id: int, now: datetime) -> int:
    async with db.uow() as uow:
        link = await uow.session.get(PaymentLink, link_id)
        assert link is not None
        provider_link_id = link.provider_link_id
    remote = await gateway.fetch_link(provider_link_id)
    recovered = 0
    async with db.uow() as uow:
        link = await uow.session.get(PaymentLink, link_id, with_for_update=True)
        assert link is not None
        for payment in remote.payments:
            if payment.status != "captured":
                continue
            posted = await post_payment(uow.session, IncomingPayment(
                source="razorpay", external_id=payment.id, consumer_id=link.consumer_id,
                amount_paise=payment.amount_paise, paid_at=payment.created_at,
                method=payment.method, payment_link_id=link.id), now)
            recovered += 0 if posted.duplicate else 1
        advance_link_status(link, remote.status, now)
        link.updated_at = now
        await uow.commit()
    if recovered:
        log.info("recovered payments missed by webhook", link_id=link_id, count=recovered)
    return recovered
