"""Reading a consumer account: who it is, what it owes, whether the supply is on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.ledger import Dues, Entry, compute_dues
from discom.models import Consumer, LedgerEntry, Meter


@dataclass(frozen=True, slots=True)
class Supply:
    """What the consumer should be told about their supply."""

    state: str  # connected | disconnected | ready_for_reconnection | unknown | no_meter
    reason: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Account:
    consumer_id: int
    consumer_no: str
    name: str
    mobile: str | None
    tariff_category: str
    dues: Dues
    supply: Supply


async def find_consumer(session: AsyncSession, consumer_no: str) -> Consumer | None:
    return await session.scalar(select(Consumer).where(Consumer.consumer_no == consumer_no))


# Built once and run with each consumer's id: several per payment, and constructing a
# SELECT costs more Python time than running it.
_ENTRY = (LedgerEntry.kind, LedgerEntry.amount_paise, LedgerEntry.posted_at,
          LedgerEntry.bill_month, LedgerEntry.due_date, LedgerEntry.detail)
# Later entries of a month carry its latest due date (compute_dues keeps the last).
_LEDGER = (select(*_ENTRY).where(LedgerEntry.consumer_id == bindparam("consumer_id"))
           .order_by(LedgerEntry.posted_at, LedgerEntry.id))
_LEDGERS = (select(LedgerEntry.consumer_id, *_ENTRY)
            .where(LedgerEntry.consumer_id.in_(bindparam("consumer_ids", expanding=True)))
            .order_by(LedgerEntry.consumer_id, LedgerEntry.posted_at, LedgerEntry.id))


async def load_dues(session: AsyncSession, consumer_id: int) -> Dues:
    rows = await session.execute(_LEDGER, {"consumer_id": consumer_id})
    return compute_dues(Entry(*row) for row in rows)


async def load_dues_of(session: AsyncSession, consumer_ids: Iterable[int]) -> dict[int, Dues]:
    """Several accounts' dues in one query (the reconnection driver's batch)."""
    wanted = sorted(set(consumer_ids))
    entries: dict[int, list[Entry]] = {consumer_id: [] for consumer_id in wanted}
    if wanted:
        for consumer_id, *entry in await session.execute(_LEDGERS, {"consumer_ids": wanted}):
            entries[consumer_id].append(Entry(*entry))
    return {consumer_id: compute_dues(found) for consumer_id, found in entries.items()}


async def load_supply(session: AsyncSession, consumer_id: int) -> Supply:
    """The worst relay state among the consumer's meters (one meter is the usual case)."""
    meters = (await session.scalars(select(Meter).where(Meter.consumer_id == consumer_id))).all()
    if not meters:
        return Supply("no_meter")
    severity = ("disconnected", "ready_for_reconnection", "unknown", "connected")
    worst = min(meters, key=lambda m: severity.index(m.relay_state))
    return Supply(worst.relay_state, worst.relay_reason, worst.relay_changed_at)


async def load_account(session: AsyncSession, consumer_no: str) -> Account | None:
    consumer = await find_consumer(session, consumer_no)
    if consumer is None:
        return None
    return Account(
        consumer_id=consumer.id,
        consumer_no=consumer.consumer_no,
        name=consumer.name,
        mobile=consumer.mobile,
        tariff_category=consumer.tariff_category,
        dues=await load_dues(session, consumer.id),
        supply=await load_supply(session, consumer.id),
    )
