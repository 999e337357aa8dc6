"""Payment links made in two steps, so that no database transaction waits on Razorpay.

1. `request_link`, in the caller's transaction: the open link this chat may be given again,
   or a claimed `payment_link_requests` row (the intent, with everything the call needs), or
   `BUSY` when a request of this chat for this account is already with Razorpay. The caller
   commits.
2. `make_link`, after the commit and outside any transaction: the Razorpay call, then the
   outcome — the `payment_links` row, or the request failed — in a new short transaction.

A slow or hanging Razorpay (the SDK waits up to its timeout) then holds no row lock and no
pooled connection, and a webhook or another chat is never queued behind it. The claim is a
partial unique index (one pending request per consumer and chat); a claim whose process
died mid-call lapses after `CLAIM_FOR`, so the chat can ask again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from discom.db import Database
from discom.models import Consumer, PaymentLink, PaymentLinkRequest
from discom.payments.links import Gateway, LinkSettings, new_reference, reusable_link
from discom.sql import insert_new_id

# Longer than the gateway's own timeout (10 s), so a live call is never taken over.
CLAIM_FOR = timedelta(minutes=2)
# A finished request is only the record of a call; the link it made is kept in payment_links.
KEEP_FINISHED = timedelta(days=7)
# Must match the partial unique index on payment_link_requests (discom/models.py).
_PENDING = text("status = 'pending'")


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """A committed request for a link, with what the Razorpay call needs."""

    request_id: int
    consumer_id: int
    chat_id: int
    consumer_no: str
    amount_paise: int
    reference_id: str
    expire_by: datetime
    customer_name: str | None  # only for the holder's chat (discom/notify/audience.py)
    customer_contact: str | None


class Busy:
    """Another request of this chat for this account is with Razorpay right now."""


BUSY: Final = Busy()


async def request_link(
    session: AsyncSession, consumer: Consumer, amount_paise: int, chat_id: int, now: datetime,
    settings: LinkSettings, *, for_holder: bool,
) -> PaymentLink | LinkClaim | Busy:
    """Step 1: the link to give again, or the claim to make one, or `BUSY`."""
    existing = await reusable_link(session, consumer.id, amount_paise, now, chat_id)
    if existing is not None:
        if existing.chat_id is None:
            existing.chat_id = chat_id
        return existing
    await session.execute(  # a claim whose process died mid-call lapses
        update(PaymentLinkRequest)
        .where(PaymentLinkRequest.consumer_id == consumer.id,
               PaymentLinkRequest.chat_id == chat_id, PaymentLinkRequest.status == "pending",
               PaymentLinkRequest.claimed_until < now)
        .values(status="failed", error="claim lapsed", updated_at=now))
    reference = new_reference(consumer.consumer_no)
    request_id = await insert_new_id(session, PaymentLinkRequest.__table__, {
        "consumer_id": consumer.id, "chat_id": chat_id, "amount_paise": amount_paise,
        "reference_id": reference, "status": "pending", "claimed_until": now + CLAIM_FOR,
        "created_at": now, "updated_at": now}, ["consumer_id", "chat_id"], index_where=_PENDING)
    if request_id is None:
        return BUSY
    return LinkClaim(
        request_id=request_id, consumer_id=consumer.id, chat_id=chat_id,
        consumer_no=consumer.consumer_no, amount_paise=amount_paise, reference_id=reference,
        expire_by=now + settings.lifetime,
        customer_name=consumer.name if for_holder else None,
        customer_contact=consumer.mobile if for_holder else None)


async def make_link(db: Database, gateway: Gateway, settings: LinkSettings, claim: LinkClaim,
                    now: datetime) -> PaymentLink:
    """Step 2, with no transaction open: call Razorpay, then record the outcome. Gateway
    errors are re-raised after the request is marked failed."""
    try:
        created = await gateway.create_link(
            amount_paise=claim.amount_paise, reference_id=claim.reference_id,
            description=f"Electricity dues, consumer {claim.consumer_no}",
            customer_name=claim.customer_name, customer_contact=claim.customer_contact,
            consumer_no=claim.consumer_no, expire_by=claim.expire_by,
            callback_url=settings.callback_url)
    except Exception as exc:
        await _finish(db, claim, now, None, f"{type(exc).__name__}: {exc}")
        raise
    link = PaymentLink(
        consumer_id=claim.consumer_id, chat_id=claim.chat_id, provider_link_id=created.id,
        reference_id=claim.reference_id, amount_paise=claim.amount_paise, amount_paid_paise=0,
        status="created", short_url=created.short_url, expire_by=claim.expire_by,
        created_at=now, updated_at=now)
    await _finish(db, claim, now, link, None)
    return link


async def _finish(db: Database, claim: LinkClaim, now: datetime, link: PaymentLink | None,
                  error: str | None) -> None:
    async with db.uow() as uow:
        if link is not None:
            uow.session.add(link)
            await uow.session.flush()
        await uow.session.execute(
            update(PaymentLinkRequest).where(PaymentLinkRequest.id == claim.request_id)
            .values(status="done" if link is not None else "failed",
                    payment_link_id=link.id if link is not None else None,
                    error=error[:300] if error else None, updated_at=now))
        await uow.commit()


async def prune_link_requests(db: Database, now: datetime) -> int:
    """Forget finished requests after `KEEP_FINISHED` (housekeeping)."""
    async with db.uow() as uow:
        result = await uow.session.execute(delete(PaymentLinkRequest).where(
            PaymentLinkRequest.status != "pending",
            PaymentLinkRequest.updated_at < now - KEEP_FINISHED))
        await uow.commit()
    return result.rowcount or 0
