"""The consumer numbers a chat looked up, remembered so the next lookup can offer them.

Per chat only (a number typed in one chat is never offered in another), newest first, and
forgotten after `KEEP` (discom/housekeeping.py). Only what a typed lookup already showed is
offered: the number and the masked name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.housekeeping import RECENT_LOOKUPS_KEEP as KEEP
from discom.identifiers import mask_name
from discom.models import Consumer, RecentLookup

OFFERED = 3  # buttons beside the linked accounts: enough for a household, short on a phone


@dataclass(frozen=True, slots=True)
class RecentNumber:
    consumer_no: str
    masked_name: str


async def remember(session: AsyncSession, chat_id: int, consumer_id: int, now: datetime) -> None:
    """Note a lookup; a number looked up again moves to the front."""
    known = await session.get(RecentLookup, (chat_id, consumer_id))
    if known is None:
        session.add(RecentLookup(chat_id=chat_id, consumer_id=consumer_id, looked_up_at=now))
    else:
        known.looked_up_at = now


async def recent_numbers(session: AsyncSession, chat_id: int, now: datetime,
                         leave_out: list[str]) -> list[RecentNumber]:
    """The chat's latest lookups within `KEEP`, newest first, without `leave_out` (the
    linked accounts, offered on their own)."""
    rows = await session.execute(
        select(Consumer.consumer_no, Consumer.name)
        .join(RecentLookup, RecentLookup.consumer_id == Consumer.id)
        .where(RecentLookup.chat_id == chat_id, RecentLookup.looked_up_at > now - KEEP,
               Consumer.consumer_no.not_in(leave_out))
        .order_by(RecentLookup.looked_up_at.desc())
        .limit(OFFERED)
    )
    return [RecentNumber(no, mask_name(name)) for no, name in rows]


async def is_recent(session: AsyncSession, chat_id: int, consumer_no: str,
                    now: datetime) -> bool:
    found = await session.scalar(
        select(RecentLookup.consumer_id)
        .join(Consumer, RecentLookup.consumer_id == Consumer.id)
        .where(RecentLookup.chat_id == chat_id, Consumer.consumer_no == consumer_no,
               RecentLookup.looked_up_at > now - KEEP)
    )
    return found is not None
