"""Applying what the HES reports — by callback or by polling — to orders, meters and consumers.

The HES is the source of truth for the relay. "Supply restored" is told only when it reports
the relay `connected` (ARCHITECTURE.md decision 8); `ready_for_reconnection` means the relay
is armed and the consumer must press the meter's button.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom import timeline
from discom.models import OPEN_ORDER_STATUSES, Meter, ReconnectionOrder
from discom.notify.audience import payer_chat_of_payment
from discom.notify.outbox import notify_consumer
from discom.reconnection import metrics

CORRELATION_PREFIX = "order-"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: base·2^tries, capped, scaled by a random 50-100 %."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=5)

    def after(self, tries: int, rng: random.Random) -> timedelta:
        delay = min(self.cap, self.base * (2 ** min(tries, 20)))
        return delay * (0.5 + rng.random() / 2)


def correlation_id(order_id: int, attempt: int) -> str:
    """`order-{id}-{attempt}`: names the order *and* the attempt, so a report about a command
    an order has already given up on (a late callback of attempt 1 while attempt 2 is under
    way) is recognised as such and cannot fail the current attempt."""
    return f"{CORRELATION_PREFIX}{order_id}-{attempt}"


def parse_correlation(value: str | None) -> tuple[int, int | None] | None:
    """(order id, attempt) from our correlation id; attempt is None in the older
    `order-{id}` form. None for anything that is not ours."""
    if not value or not value.startswith(CORRELATION_PREFIX):
        return None
    order_part, _, attempt_part = value.removeprefix(CORRELATION_PREFIX).partition("-")
    if not order_part.isdigit() or (attempt_part and not attempt_part.isdigit()):
        return None
    return int(order_part), int(attempt_part) if attempt_part else None


def order_id_from_correlation(value: str | None) -> int | None:
    parsed = parse_correlation(value)
    return parsed[0] if parsed else None


def is_superseded(order: ReconnectionOrder, command_id: str | None,
                  correlation: str | None) -> bool:
    """Whether a report is about an earlier attempt's command, not the order's current one.
    One attempt has one idempotency key, hence one command id at the HES."""
    parsed = parse_correlation(correlation)
    if parsed is not None and parsed[1] is not None and parsed[1] != order.attempt:
        return True
    return bool(order.command_id and command_id and order.command_id != command_id)


def reports_success(status: str, relay_state: str | None) -> bool:
    """The relay closed (or armed): true of the meter whichever attempt achieved it."""
    return status == "executed" and relay_state in ("connected", "ready_for_reconnection")


# The order locked and its meter, in one round trip: built once, as constructing a statement
# costs more than running it.
_ORDER_AND_METER = (select(ReconnectionOrder, Meter)
                    .join(Meter, Meter.id == ReconnectionOrder.meter_pk)
                    .with_for_update(of=ReconnectionOrder))
_BY_ID = _ORDER_AND_METER.where(ReconnectionOrder.id == bindparam("order_id"))
_BY_COMMAND = _ORDER_AND_METER.where(ReconnectionOrder.command_id == bindparam("command_id"))


async def find_order(session: AsyncSession, command_id: str | None, correlation: str | None
                     ) -> tuple[ReconnectionOrder, Meter] | None:
    """The order a HES report is about, locked, and its meter: by our correlation id (known
    before the command id is stored, when the HES answers faster than we record its
    acceptance), else by command id."""
    order_id = order_id_from_correlation(correlation)
    if order_id is not None:
        found = await session.execute(_BY_ID, {"order_id": order_id})
    elif command_id:
        found = await session.execute(_BY_COMMAND, {"command_id": command_id})
    else:
        return None
    row = found.first()
    return None if row is None else (row[0], row[1])


async def mark_started(session: AsyncSession, order: ReconnectionOrder, meter: Meter,
                       now: datetime) -> None:
    """The HES has the command: tell the consumer reconnection has started (once)."""
    timeline.record(session, order.consumer_id, timeline.RECONNECTION_STARTED, now,
                    payment_id=order.payment_id, meter_id=meter.meter_id)
    await notify_consumer(session, order.consumer_id, "reconnection_started",
                          {"meter_id": meter.meter_id},
                          dedupe_key=f"reconnect-started/{order.id}", now=now,
                          payer_chat_id=await payer_chat_of_payment(session, order.payment_id))


async def apply_result(
    session: AsyncSession, order: ReconnectionOrder, meter: Meter, status: str,
    relay_state: str | None, at: datetime, now: datetime, *, backoff: Backoff,
    rng: random.Random,
) -> None:
    """Move the order (for `meter`) by a command's reported status; idempotent for repeated
    reports."""
    if order.status in ("confirmed", "cancelled"):
        return
    if reports_success(status, relay_state):
        if order.sent_at is None:
            await mark_started(session, order, meter, now)
        await _confirm(session, order, meter, relay_state, at, now)
    elif status in ("failed", "expired") or status == "executed":
        await record_failure(session, order, f"HES command {status}, relay {relay_state}",
                             now, backoff=backoff, rng=rng, new_attempt=True)


async def _confirm(session: AsyncSession, order: ReconnectionOrder, meter: Meter,
                   relay_state: str, at: datetime, now: datetime) -> None:
    order.status, order.relay_state, order.confirmed_at = "confirmed", relay_state, now
    order.updated_at, order.lease_until, order.lease_owner = now, None, None
    meter.relay_state, meter.relay_reason = relay_state, None
    meter.relay_changed_at, meter.last_seen_at = at, at
    metrics.CONFIRMED.labels(relay_state).inc()
    metrics.ORDER_TO_CONFIRMED.observe((now - order.created_at).total_seconds())
    restored = relay_state == "connected"
    timeline.record(session, order.consumer_id,
                    timeline.SUPPLY_RESTORED if restored else timeline.METER_ARMED, at,
                    payment_id=order.payment_id, meter_id=meter.meter_id)
    await notify_consumer(session, order.consumer_id,
                          "supply_restored" if restored else "meter_armed",
                          {"meter_id": meter.meter_id, "at": at.isoformat()},
                          dedupe_key=f"restored/{order.id}", now=now,
                          payer_chat_id=await payer_chat_of_payment(session, order.payment_id))


async def record_failure(
    session: AsyncSession, order: ReconnectionOrder, error: str, now: datetime, *,
    backoff: Backoff, rng: random.Random, new_attempt: bool,
) -> None:
    """A failed try: retry later with backoff. `new_attempt` when the HES definitively
    failed the command, so the next try must be a new command (a new idempotency key)."""
    if order.status not in OPEN_ORDER_STATUSES:
        return
    order.tries += 1
    if new_attempt:
        order.attempt += 1
        order.command_id = None
    order.status, order.last_error = "failed", error[:300]
    order.next_attempt_at = now + backoff.after(order.tries, rng)
    order.updated_at, order.lease_until, order.lease_owner = now, None, None
    await tell_delayed(session, order, now)


async def tell_delayed(session: AsyncSession, order: ReconnectionOrder, now: datetime) -> None:
    """'Delayed, we are on it' — once per order."""
    queued = await notify_consumer(session, order.consumer_id, "reconnection_delayed", {},
                                   dedupe_key=f"delayed/{order.id}", now=now)
    if queued:
        timeline.record(session, order.consumer_id, timeline.RECONNECTION_DELAYED, now)


async def escalate(session: AsyncSession, order: ReconnectionOrder, reason: str,
                   now: datetime) -> None:
    """Give the order to staff: it leaves the worker's hands and shows on /ops/reconnections."""
    order.status, order.last_error = "escalated", reason[:300]
    order.updated_at, order.lease_until, order.lease_owner = now, None, None
    metrics.ESCALATED.labels(reason.split(":", 1)[0]).inc()
    await tell_delayed(session, order, now)
