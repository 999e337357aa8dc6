"""Creating reconnection orders: in the payment's transaction, and by the periodic sweep."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from discom import timeline
from discom.accounts import load_dues
from discom.inbound import first_time
from discom.ledger import Dues
from discom.models import OPEN_ORDER_STATUSES, Meter, ReconnectionOrder
from discom.notify.audience import payer_chat_of_payment
from discom.notify.outbox import notify_consumer
from discom.reconnection import metrics
from discom.reconnection.policy import Action, MeterFacts, reconnection_action
from discom.sql import insert_new_id

# Must match the partial unique index on reconnection_orders (discom/models.py).
_OPEN = text(f"status IN ({', '.join(repr(s) for s in OPEN_ORDER_STATUSES)})")


@dataclass
class Reconciled:
    orders_created: list[int] = field(default_factory=list)
    field_visits: list[str] = field(default_factory=list)


def facts(meter: Meter) -> MeterFacts:
    return MeterFacts(meter.remote_switch, meter.relay_state, meter.relay_reason,
                      meter.block_reason)


async def reconcile_consumer(
    session: AsyncSession, consumer_id: int, now: datetime, cause: str,
    dues: Dues | None = None, payment_id: int | None = None,
) -> Reconciled:
    """Bring the consumer's meters' *intent* in line with the ledger: an open order for every
    paid-up, switchable meter disconnected for non-payment; a technician for the others.
    `dues`: the account's dues as of this transaction, when the caller has just read them;
    `payment_id`: the payment that cleared them, whose chat is told what it caused."""
    result = Reconciled()
    if dues is None:
        dues = await load_dues(session, consumer_id)
    meters = (await session.scalars(select(Meter).where(Meter.consumer_id == consumer_id))).all()
    for meter in meters:
        action = reconnection_action(dues.is_clear, facts(meter))
        if action is Action.COMMAND:
            order_id = await open_order(session, meter, now, cause, payment_id)
            if order_id is not None:
                result.orders_created.append(order_id)
        elif action is Action.FIELD_VISIT:
            await _field_visit(session, meter, now, payment_id)
            result.field_visits.append(meter.meter_id)
    return result


async def open_order(session: AsyncSession, meter: Meter, now: datetime, cause: str,
                     payment_id: int | None = None) -> int | None:
    """Insert an order unless the meter already has an open one. Returns the new order's id."""
    order_id = await insert_new_id(session, ReconnectionOrder.__table__, {
        "consumer_id": meter.consumer_id, "meter_pk": meter.id, "status": "requested",
        "attempt": 1, "tries": 0, "next_attempt_at": now, "cause": cause[:80],
        "created_at": now, "updated_at": now, "payment_id": payment_id}, ["meter_pk"],
        index_where=_OPEN)
    if order_id is not None:
        metrics.ORDERS_CREATED.inc()
    return order_id


async def _field_visit(session: AsyncSession, meter: Meter, now: datetime,
                       payment_id: int | None) -> None:
    """Tell the consumer a technician will come, once per disconnection of this meter."""
    episode = int(meter.relay_changed_at.timestamp()) if meter.relay_changed_at else 0
    key = f"{meter.id}/{episode}"
    if not await first_time(session, "field-visit", key, now):
        return
    timeline.record(session, meter.consumer_id, timeline.FIELD_RECONNECTION, now,
                    payment_id=payment_id, meter_id=meter.meter_id)
    await notify_consumer(session, meter.consumer_id, "field_reconnection",
                          {"meter_id": meter.meter_id}, dedupe_key=f"field/{key}", now=now,
                          payer_chat_id=await payer_chat_of_payment(session, payment_id))
