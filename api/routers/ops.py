"""`/ops/*`: payments posted by the billing system, BBPS and cash counters; staff lists.

All behind the bearer `OPS_API_TOKEN`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field, ValidationError
from sqlalchemy import select

from api.composition import Services
from api.deps import get_services
from api.http import read_body, require_ops_token
from discom.clock import utcnow
from discom.identifiers import InvalidIdentifier, normalise_consumer_no
from discom.models import Consumer, Meter, Payment, ReconnectionOrder, TimelineEvent
from discom.payments.posting import IncomingPayment, post_payment
from discom.settings import Settings

router = APIRouter(prefix="/ops", tags=["ops"], dependencies=[Depends(require_ops_token)])
ServicesDep = Annotated[Services, Depends(get_services)]
# A counter's clock a little ahead of ours is not a payment from the future.
PAID_AT_CLOCK_SKEW = timedelta(minutes=5)


class PostedPayment(BaseModel):
    """A payment made outside Razorpay. `reference` is unique within its `source`."""

    source: str = Field(pattern=r"^[a-z0-9_-]{2,20}$", examples=["bbps", "cash", "billing"])
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_./:-]+$")
    consumer_no: str = Field(min_length=1, max_length=40)
    # Strict: money is integer paise. Lax parsing would take "2870.00" (rupees, as text) as
    # 2870 paise, `true` as 1 paisa and 287000.0 from a client computing in floats.
    amount_paise: int = Field(gt=0, le=10**12, strict=True)
    paid_at: AwareDatetime
    method: str | None = Field(default=None, max_length=30)


class PaymentAnswer(BaseModel):
    status: Literal["credited", "duplicate"]
    payment_id: int | None = None
    total_due_paise: int | None = None
    reconnection_orders: list[int] = []


OPERATOR_HEADER = "X-Operator"
_POSTED_PAYMENT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": PostedPayment.model_json_schema()}}}}


@router.post("/payments", status_code=status.HTTP_201_CREATED,
             openapi_extra=_POSTED_PAYMENT_BODY)
async def post_ops_payment(
    request: Request, services: ServicesDep, response: Response,
    operator: Annotated[str, Header(alias=OPERATOR_HEADER, min_length=1, max_length=64,
                                    pattern=r"^[A-Za-z0-9_.@:-]+$")],
) -> PaymentAnswer:
    """Credit a payment once; a repeat of the same source + reference answers 200 duplicate,
    and the same source + reference for another amount or account 409. `X-Operator` names
    who posted it (stored with the payment)."""
    # The body is read only now, after the token check (FastAPI would parse a declared body
    # before any dependency ran, for anyone who asked).
    payment = await _posted_payment(request, services.settings)
    try:
        consumer_no = normalise_consumer_no(payment.consumer_no)
    except InvalidIdentifier as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    now = utcnow()
    if payment.paid_at > now + PAID_AT_CLOCK_SKEW:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "paid_at is in the future")
    async with services.db.uow() as uow:
        consumer_id = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == consumer_no))
        if consumer_id is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown consumer number")
        posted = await post_payment(uow.session, IncomingPayment(
            source=payment.source, external_id=payment.reference, consumer_id=consumer_id,
            amount_paise=payment.amount_paise, paid_at=payment.paid_at,
            method=payment.method, posted_by=operator), now)
        await services.wakeup.notify_on_commit(uow.session)
        await uow.commit()
    if posted.duplicate:
        await _same_payment_or_conflict(services, payment, consumer_id)
        response.status_code = status.HTTP_200_OK
        return PaymentAnswer(status="duplicate")
    assert posted.dues is not None
    return PaymentAnswer(status="credited", payment_id=posted.payment_id,
                         total_due_paise=posted.dues.total,
                         reconnection_orders=posted.orders_created)


async def _posted_payment(request: Request, settings: Settings) -> PostedPayment:
    """The body as a PostedPayment, or 422 as FastAPI would give; 413 past the body limit."""
    body = await read_body(request, settings.max_request_body_bytes)
    try:
        payment = PostedPayment.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False),
                                     body=None) from None
    if payment.source == "razorpay":
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "razorpay payments arrive by webhook, not here")
    if payment.amount_paise > settings.ops_payment_max_paise:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"amount_paise is over OPS_PAYMENT_MAX_PAISE "
                            f"({settings.ops_payment_max_paise})")
    return payment


async def _same_payment_or_conflict(services: Services, payment: PostedPayment,
                                    consumer_id: int) -> None:
    """A repeat of a reference must be the same payment. One reused for another amount or
    account is refused (409): "duplicate" would tell the sender it was credited."""
    async with services.db.uow() as uow:
        first = await uow.session.scalar(select(Payment).where(
            Payment.source == payment.source, Payment.external_id == payment.reference))
    if first is not None and (first.consumer_id, first.amount_paise) != (
            consumer_id, payment.amount_paise):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "this source and reference were used for a different payment")


@router.get("/reconnections")
async def list_reconnections(
    services: ServicesDep,
    order_status: Annotated[str, Query(alias="status", pattern=r"^[a-z]+$")] = "escalated",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Reconnection orders by status — by default the escalated ones staff must act on."""
    async with services.db.uow() as uow:
        rows = await uow.session.execute(
            select(ReconnectionOrder, Meter.meter_id, Consumer.consumer_no)
            .join(Meter, Meter.id == ReconnectionOrder.meter_pk)
            .join(Consumer, Consumer.id == ReconnectionOrder.consumer_id)
            .where(ReconnectionOrder.status == order_status)
            .order_by(ReconnectionOrder.updated_at.desc())
            .limit(limit))
        return [
            {"order_id": o.id, "consumer_no": no, "meter_id": meter_id, "status": o.status,
             "attempt": o.attempt, "tries": o.tries, "last_error": o.last_error,
             "created_at": o.created_at, "updated_at": o.updated_at,
             "command_id": o.command_id}
            for o, meter_id, no in rows
        ]


@router.get("/field-reconnections")
async def list_field_reconnections(
        services: ServicesDep, days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> list[dict[str, Any]]:
    """Paid-up meters a technician must reconnect (CT-operated or blocked), still off."""
    since: datetime = utcnow() - timedelta(days=days)
    async with services.db.uow() as uow:
        rows = await uow.session.execute(
            select(TimelineEvent, Consumer.consumer_no, Consumer.division)
            .join(Consumer, Consumer.id == TimelineEvent.consumer_id)
            .where(TimelineEvent.kind == "field_reconnection", TimelineEvent.at >= since)
            .order_by(TimelineEvent.at))
        still_off = set((await uow.session.scalars(
            select(Meter.meter_id).where(Meter.relay_state == "disconnected"))).all())
        return [
            {"consumer_no": no, "division": division, "meter_id": e.detail.get("meter_id"),
             "paid_up_at": e.at}
            for e, no, division in rows if e.detail.get("meter_id") in still_off
        ]
