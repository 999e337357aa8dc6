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


def record(session: AsyncSession, consumer_id: int, kind: str, at: datetime,
           **detail: Any) -> None:
    session.add(TimelineEvent(consumer_id=consumer_id, kind=kind, at=at, detail=detail))


async def recent(session: AsyncSession, consumer_id: int, limit: int = 6) -> list[TimelineEvent]:
    """The latest events, oldest first."""
    rows = await session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.consumer_id == consumer_id)
        .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))
