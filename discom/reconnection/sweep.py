"""The periodic sweep: the level-triggered guarantee behind event-driven reconnection.

A payment normally creates its reconnection order in its own transaction. The sweep finds
what slipped through anyway — a lost webhook later recovered, two payments racing, a meter
reported disconnected after the payment — and creates the missing orders. One query finds
the candidates: meters disconnected for non-payment with no open order, whose account
balance is not positive (the ledger balance is ≤ 0 exactly when dues are clear).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select

from discom.db import Database
from discom.models import OPEN_ORDER_STATUSES, LedgerEntry, Meter, ReconnectionOrder
from discom.payments.posting import lock_consumer
from discom.reconnection.orders import reconcile_consumer


def _candidates(now: datetime, cooldown: timedelta, limit: int):
    balance = (
        select(LedgerEntry.consumer_id)
        .group_by(LedgerEntry.consumer_id)
        .having(func.sum(LedgerEntry.amount_paise) <= 0)
        .subquery()
    )
    open_or_recent_order = exists().where(
        ReconnectionOrder.meter_pk == Meter.id,
        (ReconnectionOrder.status.in_(OPEN_ORDER_STATUSES))
        | and_(ReconnectionOrder.status == "escalated",
               ReconnectionOrder.updated_at > now - cooldown),
    )
    return (
        select(Meter.consumer_id)
        .join(balance, balance.c.consumer_id == Meter.consumer_id)
        .where(Meter.relay_state == "disconnected", Meter.relay_reason == "non_payment",
               Meter.remote_switch.is_(True), Meter.block_reason.is_(None),
               ~open_or_recent_order)
        .distinct()
        .limit(limit)
    )


async def sweep(db: Database, now: datetime, *, cooldown: timedelta = timedelta(hours=1),
                limit: int = 1000) -> int:
    """Create missing orders. Returns how many were made.

    Meters a technician must reconnect are not swept: their notice is given when the
    payment is posted, and staff find them on the ops list.

    An escalated order holds its meter back for `cooldown`, so staff see a steady list
    rather than a new order every minute; after that the sweep tries again by itself.
    """
    async with db.uow() as uow:
        consumer_ids = list((await uow.session.scalars(_candidates(now, cooldown, limit))).all())
    created = 0
    for consumer_id in consumer_ids:
        async with db.uow() as uow:
            await lock_consumer(uow.session, consumer_id)
            result = await reconcile_consumer(uow.session, consumer_id, now, cause="sweep")
            await uow.commit()
        created += len(result.orders_created)
    return created
