"""What the HES tells Bijli by callback: command results and meter events.

Each callback is applied once (its `event_id` is recorded in the same transaction) and may
arrive late or out of order: a meter's relay state only changes for a report newer than the
one already applied. A report dated further ahead than `max_future` (a meter clock in 2099)
is not believed: it counts as happening when it arrived, else it would outrank every real
report after it and freeze the meter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discom import timeline
from discom.accounts import load_dues
from discom.inbound import first_time
from discom.models import OPEN_ORDER_STATUSES, LedgerEntry, Meter, ReconnectionOrder
from discom.notify.outbox import notify_consumer
from discom.payments.posting import lock_consumer
from discom.reconnection.results import (
    Backoff,
    apply_result,
    find_order,
    is_superseded,
    reports_success,
)

log = structlog.get_logger(__name__)
DEFAULT_MAX_FUTURE = timedelta(minutes=5)  # HES_EVENT_MAX_FUTURE_SECONDS


def trusted_time(at: datetime, now: datetime, max_future: timedelta) -> datetime:
    """`at`, or `now` (the time of receipt) when `at` is more than `max_future` ahead."""
    if at > now + max_future:
        log.warning("hes.event_time_in_future", reported=at.isoformat(), used=now.isoformat())
        return now
    return at


class CommandReport(Protocol):
    event_id: str
    command_id: str
    correlation_id: str
    status: str
    relay_state: str
    at: datetime


class MeterReport(Protocol):
    event_id: str
    meter_id: str
    event: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Charges:
    """Disconnection and reconnection charges in paise, by tariff category ("default" else)."""

    disconnection: dict[str, int] = field(default_factory=lambda: {"default": 15_000})
    reconnection: dict[str, int] = field(default_factory=lambda: {"default": 15_000})

    def for_tariff(self, tariff: str) -> list[tuple[str, int]]:
        amounts = [("disconnection", self.disconnection), ("reconnection", self.reconnection)]
        return [(kind, table.get(tariff, table.get("default", 0))) for kind, table in amounts]


async def apply_command_report(session: AsyncSession, report: CommandReport, now: datetime, *,
                               backoff: Backoff, rng: random.Random,
                               max_future: timedelta = DEFAULT_MAX_FUTURE) -> bool:
    """Returns False for a repeated event."""
    if not await first_time(session, "hes", report.event_id, now):
        return False
    at = trusted_time(report.at, now, max_future)
    found = await find_order(session, report.command_id, report.correlation_id)
    if found is not None:
        order, meter = found
        if is_superseded(order, report.command_id, report.correlation_id):
            # A late word about an attempt the order has moved on from: its failure is
            # old news (applying it would start yet another command while the current one
            # is on its way); its success is still the truth about the relay.
            if reports_success(report.status, report.relay_state):
                await apply_result(session, order, meter, report.status, report.relay_state,
                                   at, now, backoff=backoff, rng=rng)
            return True
        if order.command_id is None:
            order.command_id = report.command_id
        await apply_result(session, order, meter, report.status, report.relay_state,
                           at, now, backoff=backoff, rng=rng)
    return True


async def apply_meter_report(session: AsyncSession, report: MeterReport, now: datetime, *,
                             charges: Charges, backoff: Backoff, rng: random.Random,
                             max_future: timedelta = DEFAULT_MAX_FUTURE) -> str:
    """"applied", "duplicate" (a repeated event) or "unknown_meter"."""
    if not await first_time(session, "hes", report.event_id, now):
        return "duplicate"
    meter = await session.scalar(select(Meter).where(Meter.meter_id == report.meter_id))
    if meter is None:
        return "unknown_meter"
    consumer = await lock_consumer(session, meter.consumer_id)
    assert consumer is not None
    at = trusted_time(report.at, now, max_future)
    known = meter.relay_changed_at
    if known is not None and known > now + max_future:
        known = None  # stored before this rule by a report from the future: not believed
    if known is not None and at <= known:
        return "applied"  # an older report than what we know: nothing to change
    if report.event == "relay_disconnected":
        await _disconnected(session, meter, consumer.tariff_category, report, at, now, charges)
    elif report.event == "relay_connected":
        await _connected(session, meter, report, at, now, backoff, rng)
    return "applied"


async def _disconnected(session: AsyncSession, meter: Meter, tariff: str, report: MeterReport,
                        at: datetime, now: datetime, charges: Charges) -> None:
    """A new disconnection for non-payment adds the charges and tells the consumer; a second
    report of the same one (a head-end re-reading the meter) only refreshes what we know."""
    repeated = meter.relay_state == "disconnected" and meter.relay_reason == report.reason
    meter.last_seen_at = at
    if repeated:
        return
    meter.relay_state, meter.relay_reason = "disconnected", report.reason
    meter.relay_changed_at = at
    if report.reason != "non_payment":
        return
    for kind, amount in charges.for_tariff(tariff):
        if amount > 0:
            session.add(LedgerEntry(
                consumer_id=meter.consumer_id, kind="charge", amount_paise=amount, detail=kind,
                idempotency_key=f"charge/{kind}/{report.event_id}"[:120], posted_at=now))
    await session.flush()
    dues = await load_dues(session, meter.consumer_id)
    timeline.record(session, meter.consumer_id, timeline.DISCONNECTED, at,
                    meter_id=meter.meter_id)
    await notify_consumer(session, meter.consumer_id, "disconnected",
                          {"total_paise": dues.total, "meter_id": meter.meter_id},
                          dedupe_key=f"disconnected/{report.event_id}", now=now)


async def _connected(session: AsyncSession, meter: Meter, report: MeterReport, at: datetime,
                     now: datetime, backoff: Backoff, rng: random.Random) -> None:
    order = await session.scalar(select(ReconnectionOrder).where(
        ReconnectionOrder.meter_pk == meter.id,
        ReconnectionOrder.status.in_((*OPEN_ORDER_STATUSES, "escalated")))
        .order_by(ReconnectionOrder.id.desc()).limit(1).with_for_update())
    if order is not None:
        await apply_result(session, order, meter, "executed", "connected", at, now,
                           backoff=backoff, rng=rng)
        return
    armed = meter.relay_state == "ready_for_reconnection"
    meter.relay_state, meter.relay_reason = "connected", None
    meter.relay_changed_at, meter.last_seen_at = at, at
    if armed:  # the consumer pressed the button on an armed meter: now the supply is on
        timeline.record(session, meter.consumer_id, timeline.SUPPLY_RESTORED, at,
                        meter_id=meter.meter_id)
        await notify_consumer(session, meter.consumer_id, "supply_restored",
                              {"meter_id": meter.meter_id, "at": at.isoformat()},
                              dedupe_key=f"restored-at-meter/{report.event_id}", now=now)
