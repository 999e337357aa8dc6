"""How many consumer numbers may be looked up, per chat and per consumer (a pure rule and
its record).

A chat counts its own typed numbers (in its memory, `bot/dialog`); this module counts the
look-ups of one consumer from all chats together, so guessing at one account (its Samagra ID,
its codes) is bounded per account, however many chats or numbers the guesser uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.models import ConsumerLookup

WINDOW = timedelta(hours=1)
KEEP = timedelta(days=1)


@dataclass(frozen=True)
class LookupLimits:
    per_chat: int = 20
    per_consumer: int = 10


def chat_lookups_after(stamps: Sequence[float], now: datetime, per_chat: int
                       ) -> list[float] | None:
    """A chat's look-up times (POSIX seconds) within the last hour with this one added, or
    None when the chat has used up its `per_chat` look-ups of the hour (a sliding window)."""
    since = (now - WINDOW).timestamp()
    recent = [stamp for stamp in stamps if stamp > since]
    if len(recent) >= per_chat:
        return None
    return [*recent, now.timestamp()]


async def allow_lookup(session: AsyncSession, *, consumer_id: int, chat_id: int,
                       now: datetime, limits: LookupLimits) -> bool:
    """Record a look-up of `consumer_id` from `chat_id`, unless the consumer's hourly limit
    (over all chats) is used up."""
    recent = await session.scalar(
        select(func.count()).select_from(ConsumerLookup).where(
            ConsumerLookup.consumer_id == consumer_id,
            ConsumerLookup.looked_up_at > now - WINDOW))
    if (recent or 0) >= limits.per_consumer:
        return False
    session.add(ConsumerLookup(consumer_id=consumer_id, chat_id=chat_id, looked_up_at=now))
    await session.flush()
    return True


async def prune_lookups(session: AsyncSession, now: datetime) -> int:
    """Forget look-ups older than a day (only the last hour is ever counted)."""
    result = await session.execute(delete(ConsumerLookup).where(
        ConsumerLookup.looked_up_at < now - KEEP))
    return result.rowcount or 0
