"""Refunds: money a provider gave back to a payer, debited to the account once.

A refund is a new ledger line (an adjustment that takes back the money the payment brought
in), never an edit of the payment: history stays as it happened, and the dues it re-opens
are derived like any others. It changes nothing at the meter by itself — Bijli never sends
a disconnect command — but an open reconnection order is only driven while the dues are clear
(the driver checks them before every command), so a refund that arrives before the command
stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom import timeline
from discom.accounts import load_dues
from discom.ledger import REFUND_DETAIL
from discom.models import LedgerEntry, Payment, Refund
from discom.notify.outbox import notify_consumer
from discom.payments.metrics import REFUNDS_DEBITED
from discom.payments.posting import lock_consumer
from discom.sql import insert_new_id


class RefundExceedsPayment(ValueError):
    """The refunds of a payment would add up to more than the payment."""


@dataclass(frozen=True, slots=True)
class IncomingRefund:
    source: str  # razorpay
    external_id: str  # the provider's refund id
    payment: Payment  # the payment refunded, as credited
    amount_paise: int
    refunded_at: datetime


@dataclass(frozen=True, slots=True)
class Debited:
    duplicate: bool
    refund_id: int | None = None


_REFUNDED_SO_FAR = select(func.coalesce(func.sum(Refund.amount_paise), 0)).where(
    Refund.payment_id == bindparam("payment_id"))


async def post_refund(session: AsyncSession, refund: IncomingRefund, now: datetime) -> Debited:
    """Debit `refund` once; a second posting of the same (source, external_id) is a no-op.

    Raises `RefundExceedsPayment` before writing anything when the payment's refunds would
    exceed it (the caller's transaction is then to be rolled back)."""
    payment = refund.payment
    await lock_consumer(session, payment.consumer_id)
    if await session.scalar(select(Refund.id).where(
            Refund.source == refund.source, Refund.external_id == refund.external_id)):
        return Debited(duplicate=True)
    so_far = await session.scalar(_REFUNDED_SO_FAR, {"payment_id": payment.id})
    if so_far + refund.amount_paise > payment.amount_paise:
        raise RefundExceedsPayment(refund.external_id)
    refund_id = await insert_new_id(
        session, Refund.__table__,
        {"consumer_id": payment.consumer_id, "payment_id": payment.id,
         "source": refund.source, "external_id": refund.external_id,
         "amount_paise": refund.amount_paise, "refunded_at": refund.refunded_at,
         "received_at": now},
        ["source", "external_id"])
    if refund_id is None:  # a concurrent delivery of the same refund got there first
        return Debited(duplicate=True)
    key = f"refund/{refund.source}/{refund.external_id}"
    session.add(LedgerEntry(
        consumer_id=payment.consumer_id, kind="adjustment", amount_paise=refund.amount_paise,
        detail=REFUND_DETAIL, idempotency_key=key, posted_at=now))
    await session.flush()
    await _tell_consumer(session, refund, key, now)
    REFUNDS_DEBITED.inc()
    return Debited(False, refund_id)


async def _tell_consumer(session: AsyncSession, refund: IncomingRefund, key: str,
                         now: datetime) -> None:
    consumer_id = refund.payment.consumer_id
    dues = await load_dues(session, consumer_id)
    timeline.record(session, consumer_id, timeline.PAYMENT_REFUNDED, now,
                    amount_paise=refund.amount_paise, receipt=refund.payment.external_id)
    await notify_consumer(
        session, consumer_id, "payment_refunded",
        {"amount_paise": refund.amount_paise, "receipt": refund.payment.external_id,
         "total_paise": dues.total},
        dedupe_key=key, now=now)
