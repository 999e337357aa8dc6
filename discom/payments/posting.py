"""Crediting a payment — from Razorpay, the billing system, BBPS or a cash counter — exactly once.

Everything a payment causes happens in the caller's transaction: the payment row, the ledger
credit, the payment link's progress, the timeline, the consumer's notifications and, when
the dues are cleared, the reconnection orders. Either all of it is committed or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom import timeline
from discom.accounts import load_dues
from discom.ledger import Dues
from discom.models import OPEN_LINK_STATUSES, Consumer, LedgerEntry, Payment, PaymentLink
from discom.notify.audience import payer_chat_of_link
from discom.notify.outbox import notify_consumer
from discom.reconnection.orders import reconcile_consumer
from discom.sql import insert_new_id


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    source: str  # razorpay | billing | bbps | cash | ...
    external_id: str  # the payer's unique reference (Razorpay payment id, receipt number)
    consumer_id: int
    amount_paise: int
    paid_at: datetime
    method: str | None = None
    payment_link_id: int | None = None
    posted_by: str | None = None  # the operator, for payments posted through /ops/payments


@dataclass
class Posted:
    duplicate: bool
    payment_id: int | None = None
    dues: Dues | None = None
    orders_created: list[int] = field(default_factory=list)


_LOCK_CONSUMER = (select(Consumer).where(Consumer.id == bindparam("consumer_id"))
                  .with_for_update())


async def lock_consumer(session: AsyncSession, consumer_id: int) -> Consumer | None:
    """Serialise everything that changes one account's dues (payments, charges)."""
    return await session.scalar(_LOCK_CONSUMER, {"consumer_id": consumer_id})


async def post_payment(session: AsyncSession, payment: IncomingPayment, now: datetime) -> Posted:
    """Credit `payment` once; a second posting of the same (source, external_id) is a no-op."""
    if payment.amount_paise <= 0:
        raise ValueError("a payment must be a positive amount")
    await lock_consumer(session, payment.consumer_id)
    payment_id = await insert_new_id(
        session, Payment.__table__,
        {"consumer_id": payment.consumer_id, "source": payment.source,
         "external_id": payment.external_id, "amount_paise": payment.amount_paise,
         "method": payment.method, "payment_link_id": payment.payment_link_id,
         "paid_at": payment.paid_at, "received_at": now, "posted_by": payment.posted_by},
        ["source", "external_id"],
    )
    if payment_id is None:
        return Posted(duplicate=True)
    if payment.payment_link_id is not None:
        await _advance_link(session, payment.payment_link_id, payment.amount_paise, now)
    session.add(LedgerEntry(
        consumer_id=payment.consumer_id, kind="payment", amount_paise=-payment.amount_paise,
        detail=payment.source, idempotency_key=f"payment/{payment.source}/{payment.external_id}",
        posted_at=now))
    await session.flush()
    dues = await load_dues(session, payment.consumer_id)
    await _tell_consumer(session, payment, payment_id, dues, now)
    reconciled = await reconcile_consumer(session, payment.consumer_id, now,
                                          cause=f"payment/{payment.source}/{payment.external_id}",
                                          dues=dues, payment_id=payment_id)
    return Posted(False, payment_id, dues, reconciled.orders_created)


async def _advance_link(session: AsyncSession, link_id: int, amount: int, now: datetime) -> None:
    link = await session.get(PaymentLink, link_id)
    if link is None:
        return
    link.amount_paid_paise += amount
    if link.status in OPEN_LINK_STATUSES:
        link.status = "paid" if link.amount_paid_paise >= link.amount_paise else "partially_paid"
    link.updated_at = now


async def _tell_consumer(session: AsyncSession, payment: IncomingPayment, payment_id: int,
                         dues: Dues, now: datetime) -> None:
    """The holder hears of every payment and what remains; the chat that paid through its
    own link hears of its payment only (what remains is the account's business)."""
    key = f"payment/{payment.source}/{payment.external_id}"
    timeline.record(session, payment.consumer_id, timeline.PAYMENT_RECEIVED, now,
                    payment_id=payment_id, amount_paise=payment.amount_paise,
                    receipt=payment.external_id)
    await notify_consumer(
        session, payment.consumer_id, "payment_received",
        {"amount_paise": payment.amount_paise, "receipt": payment.external_id,
         "paid_at": payment.paid_at.isoformat()},
        dedupe_key=key, now=now,
        payer_chat_id=await payer_chat_of_link(session, payment.payment_link_id))
    if not dues.is_clear:
        await notify_consumer(
            session, payment.consumer_id, "payment_partial", {"remaining_paise": dues.total},
            dedupe_key=f"{key}/partial", now=now)
    elif dues.advance:
        await notify_consumer(
            session, payment.consumer_id, "payment_advance", {"advance_paise": dues.advance},
            dedupe_key=f"{key}/advance", now=now)
