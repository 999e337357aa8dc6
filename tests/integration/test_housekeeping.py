"""Use case: old provider delivery ids are forgotten on schedule, recent ones kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from discom.db import Database
from discom.housekeeping import prune_inbound_events
from discom.inbound import first_time
from discom.models import InboundEvent

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


async def test_old_telegram_update_ids_are_forgotten_but_payment_events_are_kept(db: Database):
    async with db.uow() as uow:
        await first_time(uow.session, "telegram", "100", NOW - timedelta(days=4))
        await first_time(uow.session, "telegram", "101", NOW - timedelta(days=1))
        await first_time(uow.session, "razorpay", "evt_old", NOW - timedelta(days=30))
        await first_time(uow.session, "razorpay", "evt_ancient", NOW - timedelta(days=91))
        await uow.commit()

    assert await prune_inbound_events(db, NOW) == 2

    async with db.uow() as uow:
        kept = set((await uow.session.execute(
            select(InboundEvent.source, InboundEvent.event_key))).all())
        assert kept == {("telegram", "101"), ("razorpay", "evt_old")}
        # A forgotten Telegram id counts as new again (the sequence may restart).
        assert await first_time(uow.session, "telegram", "100", NOW)
