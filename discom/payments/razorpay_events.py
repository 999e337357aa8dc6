"""Razorpay webhook events, applied to Bijli's books. Framework-free.

Razorpay delivers at least once, in any order, and one payment-link payment produces several
events (`payment_link.paid`, `payment.captured`, `order.paid`) under different event ids. So:
the event id is recorded once (`inbound_events`), the payment is credited once (its payment
id is unique in `payments`), and a link's status only moves forward — a late `expired` never
undoes `paid`. Payloads are read defensively: `notes` may be null, `[]` or an object.

A signature proves the sender, not the values: money is credited only in rupees, as strict
bounded integers (discom.payments.razorpay_values), and only for a payment on a Bijli link.
A refund (`refund.processed`, `payment.refunded`: two events, one refund id) is debited once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.inbound import first_time
from discom.models import Consumer, Payment, PaymentLink
from discom.notify.outbox import notify_consumer
from discom.payments.posting import IncomingPayment, Posted, post_payment
from discom.payments.razorpay_values import (
    CapturedPayment,
    ProcessedRefund,
    Refused,
    bijli_reference_consumer_no,
    captured_payment,
    processed_refund,
    rupees_only,
)
from discom.payments.refunds import IncomingRefund, RefundExceedsPayment, post_refund

log = structlog.get_logger(__name__)

REFUND_EVENTS = ("refund.processed", "payment.refunded")
HANDLED = ("payment_link.paid", "payment_link.partially_paid", "payment_link.expired",
           "payment_link.cancelled", "payment.failed", "payment.captured", "order.paid",
           *REFUND_EVENTS)
# How far each status is along; a link never moves back.
_LINK_PROGRESS = {"created": 0, "partially_paid": 1, "expired": 2, "cancelled": 2, "paid": 3}


class InvalidEvent(ValueError):
    """A signed body that is not a Razorpay event Bijli can read."""


@dataclass(frozen=True)
class EventOutcome:
    status: str  # applied | duplicate | ignored (refused: `Refused` is raised)
    posted: Posted | None = None


def _entity(payload: dict[str, Any], name: str) -> dict[str, Any]:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else {}


def _notes(entity: dict[str, Any]) -> dict[str, Any]:
    notes = entity.get("notes")
    return notes if isinstance(notes, dict) else {}


def _text(value: Any, limit: int = 40) -> str | None:
    """A short string field, or None: a signed body can still carry a list where Razorpay
    puts a string, and a list bound to a query parameter is a database error (found by the
    HTTP fuzzer: `"receipt": [null]` answered 500)."""
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _link_ref(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(payment link id, reference id) from whichever entities the event carries."""
    link, order, payment = (_entity(payload, n) for n in ("payment_link", "order", "payment"))
    if _text(link.get("id")):
        return link["id"], _text(link.get("reference_id"))
    # Orders Bijli did not make through a link (standard checkout) carry product_type null.
    product_type, product_id = _text(order.get("product_type")), _text(order.get("product_id"))
    if product_type and product_type.startswith("payment_link") and product_id:
        return _text(f"plink_{product_id}"), _text(order.get("receipt"))
    description = _text(payment.get("description")) or ""
    if description.startswith("#") and len(description) > 1:
        return _text(f"plink_{description[1:]}"), None
    return None, _text(order.get("receipt"))


async def _find_link(session: AsyncSession, link_id: str | None, reference: str | None
                     ) -> PaymentLink | None:
    if link_id:
        found = await session.scalar(_LINK_BY_ID, {"link_id": link_id})
        if found is not None:
            return found
    if reference:
        return await session.scalar(_LINK_BY_REFERENCE, {"reference": reference})
    return None


_LINK_BY_ID = select(PaymentLink).where(
    PaymentLink.provider_link_id == bindparam("link_id")).with_for_update()
_LINK_BY_REFERENCE = select(PaymentLink).where(
    PaymentLink.reference_id == bindparam("reference")).with_for_update()


async def _consumer_id(session: AsyncSession, link: PaymentLink | None,
                       reference: str | None) -> int | None:
    """Whose payment this is: the consumer of Bijli's link, or the one named in a reference
    id of the shape Bijli gives its links (a link whose row was lost). Notes are not enough:
    any Razorpay product on the account (a dashboard link, a form) can carry a consumer
    number in its notes, and is not a payment of the consumer's electricity dues."""
    if link is not None:
        return link.consumer_id
    consumer_no = bijli_reference_consumer_no(reference)
    if consumer_no is None:
        return None
    return await session.scalar(select(Consumer.id).where(Consumer.consumer_no == consumer_no))


def parse_event(body: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise InvalidEvent("not a Razorpay event")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise InvalidEvent("event without payload")
    return body["event"], payload


@dataclass(frozen=True)
class EventValues:
    """What an event asks Bijli to act on, its values checked (discom.payments.razorpay_values)."""

    payment: CapturedPayment | None = None
    refund: ProcessedRefund | None = None


def check_values(event: str, payload: dict[str, Any], now: datetime) -> EventValues:
    """The event's money, checked before anything is written; raises `Refused`.

    Events Bijli does not handle are not checked: they change nothing."""
    if event not in HANDLED:
        return EventValues()
    link, payment = _entity(payload, "payment_link"), _entity(payload, "payment")
    if link and "currency" in link:
        rupees_only(link)
    refund = None
    if event in REFUND_EVENTS and _entity(payload, "refund"):
        refund = processed_refund(_entity(payload, "refund"), now)
        if payment and payment.get("id") != refund.payment_id:
            raise Refused("payment_mismatch")
    # A refund event's payment may already show status "refunded": captured is what counts.
    captured = payment.get("status") == "captured" or (
        refund is not None and payment.get("captured") is True)
    return EventValues(captured_payment(payment, now) if payment and captured else None, refund)


async def apply_event(session: AsyncSession, event_id: str, body: Any, now: datetime
                      ) -> EventOutcome:
    """Apply one verified event in the caller's transaction.

    Raises `Refused` for values Bijli will not act on; the caller then rolls back, so a
    refused event leaves nothing behind (not even its event id)."""
    event, payload = parse_event(body)
    values = check_values(event, payload, now)
    if not await first_time(session, "razorpay", event_id, now):
        return EventOutcome("duplicate")
    if event not in HANDLED:
        return EventOutcome("ignored")
    link_id, reference = _link_ref(payload)
    link = await _find_link(session, link_id, reference)
    if link is not None:
        advance_link_status(link, _entity(payload, "payment_link").get("status"), now)
    if event == "payment.failed":
        await _tell_failed(session, link, reference, _entity(payload, "payment"), now)
        return EventOutcome("applied")
    if event in REFUND_EVENTS:
        return await _refund(session, link, reference, values, now)
    if values.payment is None:
        return EventOutcome("applied" if link is not None else "ignored")
    return await _credit(session, link, reference, values.payment, now)


async def _credit(session: AsyncSession, link: PaymentLink | None, reference: str | None,
                  payment: CapturedPayment, now: datetime) -> EventOutcome:
    consumer_id = await _consumer_id(session, link, reference)
    if consumer_id is None:
        log.warning("razorpay payment not attributable", payment_id=payment.id)
        return EventOutcome("ignored")
    posted = await post_payment(session, IncomingPayment(
        source="razorpay", external_id=payment.id, consumer_id=consumer_id,
        amount_paise=payment.amount_paise, paid_at=payment.paid_at, method=payment.method,
        payment_link_id=link.id if link else None), now)
    return EventOutcome("duplicate" if posted.duplicate else "applied", posted)


_CREDITED = select(Payment).where(Payment.source == "razorpay",
                                  Payment.external_id == bindparam("payment_id"))


async def _refund(session: AsyncSession, link: PaymentLink | None, reference: str | None,
                  values: EventValues, now: datetime) -> EventOutcome:
    """Debit a refund of a payment Bijli credited. Delivery order is not guaranteed: when
    the refund comes first, its (signed, checked) payment entity credits the payment now."""
    refund = values.refund
    if refund is None:
        return EventOutcome("ignored")
    payment = await session.scalar(_CREDITED, {"payment_id": refund.payment_id})
    if payment is None and values.payment is not None:
        await _credit(session, link, reference, values.payment, now)
        payment = await session.scalar(_CREDITED, {"payment_id": refund.payment_id})
    if payment is None:  # an auto-refund of a payment never captured, or not Bijli's
        log.info("razorpay refund of a payment Bijli did not credit", refund_id=refund.id)
        return EventOutcome("ignored")
    try:
        debited = await post_refund(session, IncomingRefund(
            source="razorpay", external_id=refund.id, payment=payment,
            amount_paise=refund.amount_paise, refunded_at=refund.refunded_at), now)
    except RefundExceedsPayment as exc:
        raise Refused("refund_exceeds_payment") from exc
    return EventOutcome("duplicate" if debited.duplicate else "applied")


def advance_link_status(link: PaymentLink, status: Any, now: datetime) -> None:
    if (isinstance(status, str) and status in _LINK_PROGRESS
            and _LINK_PROGRESS[status] > _LINK_PROGRESS[link.status]):
        link.status, link.updated_at = status, now


async def _tell_failed(session: AsyncSession, link: PaymentLink | None, reference: str | None,
                       payment: dict[str, Any], now: datetime) -> None:
    consumer_id = await _consumer_id(session, link, reference)
    if consumer_id is None or not payment.get("id"):
        return
    # The chat that tried to pay through its own link is told its attempt failed.
    await notify_consumer(session, consumer_id, "payment_failed",
                          {"reason": str(payment.get("error_description") or "")[:120]},
                          dedupe_key=f"payment-failed/{payment['id']}", now=now,
                          payer_chat_id=link.chat_id if link is not None else None)
