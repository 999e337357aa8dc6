"""`GET /ops/refunds`: refunds debited to consumers' accounts, newest first, for staff.

Behind the bearer `OPS_API_TOKEN`, like the rest of `/ops/*`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.composition import Services
from api.deps import get_services
from api.http import require_ops_token
from discom.clock import utcnow
from discom.models import Consumer, Payment, Refund

router = APIRouter(prefix="/ops", tags=["ops"], dependencies=[Depends(require_ops_token)])


class RefundRow(BaseModel):
    refund_id: str  # the provider's id (Razorpay rfnd_…)
    source: str
    consumer_no: str
    payment_reference: str  # the refunded payment's provider id
    payment_amount_paise: int
    amount_paise: int
    refunded_at: datetime
    received_at: datetime


@router.get("/refunds")
async def list_refunds(
    services: Annotated[Services, Depends(get_services)],
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RefundRow]:
    """Refunds received in the last `days` days (by when Bijli received them)."""
    since = utcnow() - timedelta(days=days)
    async with services.db.uow() as uow:
        rows = await uow.session.execute(
            select(Refund, Consumer.consumer_no, Payment.external_id, Payment.amount_paise)
            .join(Consumer, Consumer.id == Refund.consumer_id)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Refund.received_at >= since)
            .order_by(Refund.received_at.desc(), Refund.id.desc())
            .limit(limit))
        return [
            RefundRow(refund_id=r.external_id, source=r.source, consumer_no=no,
                      payment_reference=reference, payment_amount_paise=paid,
                      amount_paise=r.amount_paise, refunded_at=r.refunded_at,
                      received_at=r.received_at)
            for r, no, reference, paid in rows
        ]
