"""Forgetting what no longer needs remembering.

Telegram's `update_id` sequence restarts at a random value after a week without updates, so
a Telegram delivery id kept for long could collide with a new message and swallow it; the
provider only re-delivers for about a day. Other sources' ids are kept far longer (Razorpay
replays up to 7 days; payments are also deduplicated by their own id, forever).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from discom.db import Database
from discom.kyc.retention import Retention, prune_kyc
from discom.lookups import prune_lookups
from discom.models import InboundEvent, RecentLookup
from discom.settings import Settings

KEEP = {"telegram": timedelta(days=3)}
KEEP_OTHERS = timedelta(days=90)


async def prune_inbound_events(db: Database, now: datetime) -> int:
    removed = 0
    async with db.uow() as uow:
        for source, keep in KEEP.items():
            result = await uow.session.execute(delete(InboundEvent).where(
                InboundEvent.source == source, InboundEvent.received_at < now - keep))
            removed += result.rowcount or 0
        result = await uow.session.execute(delete(InboundEvent).where(
            InboundEvent.source.not_in(list(KEEP)), InboundEvent.received_at < now - KEEP_OTHERS))
        removed += result.rowcount or 0
        await uow.commit()
    return removed


# The consumer numbers a chat looked up (bot/dialog/recent.py) are a convenience, not a
# record: kept as long as a consumer plausibly comes back for the next bill cycles.
RECENT_LOOKUPS_KEEP = timedelta(days=90)


async def prune_recent_lookups(db: Database, now: datetime) -> int:
    async with db.uow() as uow:
        result = await uow.session.execute(delete(RecentLookup).where(
            RecentLookup.looked_up_at < now - RECENT_LOOKUPS_KEEP))
        await uow.commit()
    return result.rowcount or 0


async def prune_personal_data(db: Database, settings: Settings, now: datetime) -> int:
    """OTP challenges, mobile changes and look-ups past their retention (settings)."""
    challenges, changes = await prune_kyc(db, now, Retention(
        otp_days=settings.otp_retention_days,
        mobile_change_days=settings.mobile_change_retention_days))
    async with db.uow() as uow:
        lookups = await prune_lookups(uow.session, now)
        await uow.commit()
    return challenges + changes + lookups
