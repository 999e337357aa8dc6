"""The consumer-visible history of an account ("paid 10:02 → command 10:02 → restored 10:03")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import TimelineEvent

PAYMENT_RECEIVED = "payment_received"
RECONNECTION_STARTED = "reconnection_started"
SUPPLY_RESTORED = "supply_restored"
METER_ARMED = "meter_armed"
RECONNECTION_DELAYED = "reconnection_delayed"
FIELD_RECONNECTION = "field_reconnection"
DISCONNECTED = "disconnected"
PAYMENT_REFUNDED = "payment_refunded"


def record(session: AsyncSession, consumer_id: int, kind: str, at: datetime, *,
           payment_id: int | None = None, **detail: Any) -> None:
    """`payment_id`: the payment the event is about or was caused by (what a chat that paid
    may see of the timeline, discom/notify/audience.py)."""
    session.add(TimelineEvent(consumer_id=consumer_id, kind=kind, at=at, detail=detail,
                              payment_id=payment_id))


async def recent(session: AsyncSession, consumer_id: int, limit: int = 6,
                 only: Any = None) -> list[TimelineEvent]:
    """The latest events, oldest first; `only`: a further condition on the events (what a
    chat that is not the holder's may see)."""
    query = select(TimelineEvent).where(TimelineEvent.consumer_id == consumer_id)
    if only is not None:
        query = query.where(only)
    rows = await session.scalars(
        query
        .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))
