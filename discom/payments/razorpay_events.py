"""Razorpay webhook events, applied to Bijli's books. Framework-free.

Razorpay delivers at least once, in any order, and one payment-link payment produces several
events (`payment_link.paid`, `payment.captured`, `order.paid`) under different event ids. So:
the event id is recorded once (`inbound_events`), the payment is credited once (its payment
id is unique in `payments`), and a link's status only moves forward — a late `expired` never
undoes `paid`. Payloads are read defensively: `notes` may be null, `[]` or an object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.inbound import first_time
from discom.models import Consumer, PaymentLink
from discom.notify.outbox import notify_consumer
from discom.payments.posting import IncomingPayment, Posted, post_payment

log = structlog.get_logger(__name__)

HANDLED = ("payment_link.paid", "payment_link.partially_paid", "payment_link.expired",
           "payment_link.cancelled", "payment.failed", "payment.captured", "order.paid")
# How far each status is along; a link never moves back.
_LINK_PROGRESS = {"created": 0, "partially_paid": 1, "expired": 2, "cancelled": 2, "paid": 3}


class InvalidEvent(ValueError):
    """A signed body that is not a Razorpay event Bijli can read."""


@dataclass(frozen=True)
class EventOutcome:
    status: str  # applied | duplicate | ignored
    posted: Posted | None = None


def _entity(payload: dict[str, Any], name: str) -> dict[str, Any]:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else {}


def _notes(entity: dict[str, Any]) -> dict[str, Any]:
    notes = entity.get("notes")
    return notes if isinstance(notes, dict) else {}


def _link_ref(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(payment link id, reference id) from whichever entities the event carries."""
    link, order, payment = (_entity(payload, n) for n in ("payment_link", "order", "payment"))
    if link.get("id"):
        return str(link["id"]), link.get("reference_id")
    # Orders Bijli did not make through a link (standard checkout) carry product_type null.
    if str(order.get("product_type") or "").startswith("payment_link") and order.get(
            "product_id"):
        return f"plink_{order['product_id']}", order.get("receipt")
    description = str(payment.get("description") or "")
    if description.startswith("#") and len(description) > 1:
        return f"plink_{description[1:]}", None
    return None, order.get("receipt")


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
                       payload: dict[str, Any]) -> int | None:
    if link is not None:
        return link.consumer_id
    for name in ("payment", "order", "payment_link"):
        consumer_no = _notes(_entity(payload, name)).get("consumer_no")
        if isinstance(consumer_no, str):
            return await session.scalar(
                select(Consumer.id).where(Consumer.consumer_no == consumer_no))
    return None


def parse_event(body: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise InvalidEvent("not a Razorpay event")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise InvalidEvent("event without payload")
    return body["event"], payload


async def apply_event(session: AsyncSession, event_id: str, body: Any, now: datetime
                      ) -> EventOutcome:
    """Apply one verified event in the caller's transaction."""
    event, payload = parse_event(body)
    if not await first_time(session, "razorpay", event_id, now):
        return EventOutcome("duplicate")
    if event not in HANDLED:
        return EventOutcome("ignored")
    link = await _find_link(session, *_link_ref(payload))
    if link is not None:
        advance_link_status(link, _entity(payload, "payment_link").get("status"), now)
    payment = _entity(payload, "payment")
    if event == "payment.failed":
        await _tell_failed(session, link, payload, payment, now)
        return EventOutcome("applied")
    if not payment or payment.get("status") != "captured":
        return EventOutcome("applied" if link is not None else "ignored")
    return await _credit(session, link, payload, payment, now)


async def _credit(session: AsyncSession, link: PaymentLink | None, payload: dict[str, Any],
                  payment: dict[str, Any], now: datetime) -> EventOutcome:
    consumer_id = await _consumer_id(session, link, payload)
    amount = payment.get("amount")
    if consumer_id is None or not isinstance(amount, int) or amount <= 0 or not payment.get("id"):
        log.warning("razorpay payment not attributable", payment_id=payment.get("id"))
        return EventOutcome("ignored")
    paid_at = datetime.fromtimestamp(int(payment.get("created_at") or now.timestamp()), UTC)
    posted = await post_payment(session, IncomingPayment(
        source="razorpay", external_id=str(payment["id"]), consumer_id=consumer_id,
        amount_paise=amount, paid_at=paid_at, method=payment.get("method"),
        payment_link_id=link.id if link else None), now)
    return EventOutcome("duplicate" if posted.duplicate else "applied", posted)


def advance_link_status(link: PaymentLink, status: Any, now: datetime) -> None:
    if status in _LINK_PROGRESS and _LINK_PROGRESS[status] > _LINK_PROGRESS[link.status]:
        link.status, link.updated_at = status, now


async def _tell_failed(session: AsyncSession, link: PaymentLink | None, payload: dict[str, Any],
                       payment: dict[str, Any], now: datetime) -> None:
    consumer_id = await _consumer_id(session, link, payload)
    if consumer_id is None or not payment.get("id"):
        return
    # The chat that tried to pay through its own link is told its attempt failed.
    await notify_consumer(session, consumer_id, "payment_failed",
                          {"reason": str(payment.get("error_description") or "")[:120]},
                          dedupe_key=f"payment-failed/{payment['id']}", now=now,
                          payer_chat_id=link.chat_id if link is not None else None)
