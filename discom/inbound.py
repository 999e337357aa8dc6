"""Recognising what was seen before: provider deliveries, events, one-off side effects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import InboundEvent
from discom.sql import insert_if_absent


async def first_time(session: AsyncSession, source: str, key: str, now: datetime) -> bool:
    """Record `(source, key)`; False when it was recorded before (a re-delivery, a replay).

    Runs in the caller's transaction, so the record and the work it guards commit together.
    """
    return await insert_if_absent(
        session,
        InboundEvent.__table__,
        {"source": source, "event_key": key[:120], "received_at": now},
        ["source", "event_key"],
    )
