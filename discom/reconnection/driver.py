"""The worker side of reconnection: claim due orders, talk to the HES, record what it said.

A round drives up to `batch` orders in three steps, so no database transaction is held open
across a network call:

1. one transaction claims the due orders (`FOR UPDATE SKIP LOCKED`, then a lease) and decides
   what each needs: send a command, poll one already sent, or nothing more (the dues are no
   longer clear: cancelled; past the deadline: escalated);
2. the HES calls, a bounded number at a time;
3. the outcomes, recorded as they come back: those that arrived together in one transaction,
   each only while its lease is still ours.

A worker killed between (2) and (3) leaves leases that run out; the next worker repeats (2)
with the same idempotency key, and the HES answers with the command it already has — never a
second one. Per order that is two short transactions, shared by the orders of a round.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import bindparam, or_, select, update

from discom.accounts import load_dues_of
from discom.clock import utcnow
from discom.db import Database
from discom.ledger import Dues
from discom.models import OPEN_ORDER_STATUSES, Meter, ReconnectionOrder
from discom.reconnection import metrics
from discom.reconnection.orders import facts
from discom.reconnection.policy import Action, reconnection_action
from discom.reconnection.results import (
    Backoff,
    apply_result,
    correlation_id,
    escalate,
    mark_started,
    record_failure,
)

log = structlog.get_logger(__name__)


class HeadEnd(Protocol):
    """What the driver needs of a HES connector (discom.hes.client.HesClient)."""

    async def send_command(self, **kwargs: Any) -> Any: ...

    async def get_command(self, command_id: str) -> Any: ...


@dataclass(frozen=True)
class DriverConfig:
    reply_url: str
    lease: timedelta = timedelta(seconds=60)
    poll_every: timedelta = timedelta(seconds=15)
    deadline: timedelta = timedelta(minutes=15)
    command_ttl: timedelta = timedelta(minutes=10)
    backoff: Backoff = field(default_factory=Backoff)
    batch: int = 50
    concurrency: int = 20


@dataclass(frozen=True)
class Step:
    """What step (1) decided for an order: send a command, or poll one already sent."""

    order_id: int
    kind: str  # "send" | "poll"
    meter_id: str
    attempt: int
    command_id: str | None


@dataclass(frozen=True)
class Outcome:
    """What the HES said to a step: the command it holds (`sent`), a polled status
    (`polled`), or a refusal (`rejected`) or silence (`unavailable`) with the error."""

    step: Step
    kind: str  # "sent" | "polled" | "rejected" | "unavailable"
    command_id: str | None = None
    status: str | None = None
    relay_state: str | None = None
    error: str = ""


# Built once (constructing a statement costs more Python time than running it).
_ORDERS = ReconnectionOrder.__table__
_DUE = (
    select(ReconnectionOrder, Meter)
    .join(Meter, Meter.id == ReconnectionOrder.meter_pk)
    .where(ReconnectionOrder.status.in_(OPEN_ORDER_STATUSES),
           ReconnectionOrder.next_attempt_at <= bindparam("now"),
           or_(ReconnectionOrder.lease_until.is_(None),
               ReconnectionOrder.lease_until < bindparam("now")))
    .order_by(ReconnectionOrder.next_attempt_at)
    .limit(bindparam("batch"))
    .with_for_update(of=ReconnectionOrder, skip_locked=True)
)
# The orders locked in id order (two transactions locking several never wait on each other
# in a ring), with their meters.
_LOCK_ORDERS = (select(ReconnectionOrder, Meter)
                .join(Meter, Meter.id == ReconnectionOrder.meter_pk)
                .where(ReconnectionOrder.id.in_(bindparam("ids", expanding=True)))
                .order_by(ReconnectionOrder.id).with_for_update(of=ReconnectionOrder))
_LEASE = (update(_ORDERS).where(_ORDERS.c.id.in_(bindparam("ids", expanding=True)))
          .values(lease_until=bindparam("until", type_=_ORDERS.c.lease_until.type),
                  lease_owner=bindparam("owner", type_=_ORDERS.c.lease_owner.type)))


class ReconnectionDriver:
    def __init__(self, db: Database, hes: HeadEnd, config: DriverConfig, owner: str, *,
                 rejected: type[Exception], unavailable: type[Exception],
                 clock: Any = utcnow, rng: random.Random | None = None) -> None:
        self._db, self._hes, self._config, self._owner = db, hes, config, owner
        self._rejected, self._unavailable = rejected, unavailable
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    async def run_due(self) -> int:
        """Drive the due orders (up to a batch); returns how many were claimed."""
        claimed, steps = await self.claim_due()
        if steps:
            await self._call_and_record(steps)
        return claimed

    async def claim_due(self) -> tuple[int, list[Step]]:
        """Step (1): lease the due orders to this worker (SKIP LOCKED: workers never wait
        for each other) and decide each one's step. Returns (orders claimed, steps)."""
        now = self._clock()
        async with self._db.uow() as uow:
            session = uow.session
            due = (await session.execute(
                _DUE, {"now": now, "batch": self._config.batch})).all()
            if not due:
                return 0, []
            orders = [order for order, _meter in due]
            meters = {meter.id: meter for _order, meter in due}
            dues = await load_dues_of(session, (o.consumer_id for o in orders
                                                if not _awaits_report(o)))
            steps = []
            for order in orders:
                step = await self._decide(session, order, meters[order.meter_pk], dues, now)
                if step is not None:
                    steps.append(step)
            if steps:
                await session.execute(_LEASE, {
                    "ids": [step.order_id for step in steps],
                    "until": now + self._config.lease, "owner": self._owner})
            await uow.commit()
        return len(orders), steps

    async def _decide(self, session: Any, order: ReconnectionOrder, meter: Meter,
                      dues: dict[int, Dues], now: datetime) -> Step | None:
        if _awaits_report(order):
            return Step(order.id, "poll", meter.meter_id, order.attempt, order.command_id)
        if reconnection_action(dues[order.consumer_id].is_clear,
                               facts(meter)) is not Action.COMMAND:
            order.status, order.updated_at, order.lease_until = "cancelled", now, None
            return None
        if now - order.created_at > self._config.deadline:
            await self._escalate(session, order, "deadline: not confirmed in time", now)
            return None
        return Step(order.id, "send", meter.meter_id, order.attempt, None)

    async def _call_and_record(self, steps: list[Step]) -> None:
        """Steps (2) and (3): the HES calls run side by side; whatever outcomes are back
        when the previous record is done are recorded together."""
        limit = asyncio.Semaphore(self._config.concurrency)
        outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue()

        async def call(step: Step) -> None:
            async with limit:
                outcomes.put_nowait(await self._call(step))

        calls = [asyncio.create_task(call(step)) for step in steps]
        try:
            pending = len(steps)
            while pending:
                batch = [await outcomes.get()]
                while not outcomes.empty():
                    batch.append(outcomes.get_nowait())
                pending -= len(batch)
                await self._record_all([outcome for outcome in batch if outcome is not None])
        finally:
            await asyncio.gather(*calls, return_exceptions=True)

    async def _call(self, step: Step) -> Outcome | None:
        """Step (2) for one order. None when something unforeseen went wrong: the order's
        lease runs out and it is driven again."""
        try:
            if step.kind == "send":
                receipt = await self._hes.send_command(
                    meter_id=step.meter_id, action="connect",
                    correlation_id=correlation_id(step.order_id, step.attempt),
                    idempotency_key=f"reconnect-{step.order_id}-{step.attempt}",
                    reason="payment_cleared", reply_url=self._config.reply_url,
                    expires_at=self._clock() + self._config.command_ttl)
                return Outcome(step, "sent", command_id=receipt.command_id)
            status = await self._hes.get_command(step.command_id)
            return Outcome(step, "polled", status=status.status,
                           relay_state=status.relay_state)
        except self._rejected as exc:
            metrics.HES_ERRORS.labels("rejected").inc()
            return Outcome(step, "rejected", error=str(exc))
        except self._unavailable as exc:
            metrics.HES_ERRORS.labels("unavailable").inc()
            return Outcome(step, "unavailable", error=str(exc))
        except Exception:
            log.exception("reconnection order failed unexpectedly", order_id=step.order_id)
            return None

    async def _record_all(self, outcomes: list[Outcome]) -> None:
        """Step (3) in one transaction; should that fail, one transaction per outcome, so one
        bad order does not hold back the others (a failed one's lease runs out: retried)."""
        if not outcomes:
            return
        try:
            await self._record(outcomes)
            return
        except Exception:
            if len(outcomes) == 1:
                log.exception("reconnection order failed unexpectedly",
                              order_id=outcomes[0].step.order_id)
                return
            log.warning("recording a batch of HES outcomes failed; one at a time",
                        orders=[outcome.step.order_id for outcome in outcomes], exc_info=True)
        for outcome in outcomes:
            await self._record_all([outcome])

    async def _record(self, outcomes: list[Outcome]) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            session = uow.session
            locked = {order.id: (order, meter) for order, meter in await session.execute(
                _LOCK_ORDERS, {"ids": [outcome.step.order_id for outcome in outcomes]})}
            for outcome in outcomes:
                if (found := locked.get(outcome.step.order_id)) is not None:
                    await self._apply(session, *found, outcome, now)
            await uow.commit()

    async def _apply(self, session: Any, order: ReconnectionOrder, meter: Meter,
                     outcome: Outcome, now: datetime) -> None:
        if outcome.kind == "sent":
            await self._record_sent(session, order, meter, outcome, now)
            return
        if order.lease_owner != self._owner or order.status not in OPEN_ORDER_STATUSES:
            return  # no longer ours: another worker took it over after our lease ran out
        step = outcome.step
        if outcome.kind == "polled" and order.command_id == step.command_id:
            await self._record_polled(session, order, meter, outcome, now)
        elif outcome.kind == "rejected":
            await self._record_rejected(session, order, step, outcome.error, now)
        elif outcome.kind == "unavailable":
            await self._record_unavailable(session, order, step, outcome.error, now)

    async def _record_sent(self, session: Any, order: ReconnectionOrder, meter: Meter,
                           outcome: Outcome, now: datetime) -> None:
        """The HES holds the command: recorded even when our lease ran out meanwhile, for
        the command exists either way."""
        attempt = outcome.step.attempt
        if order.command_id is None and order.attempt == attempt:
            order.command_id = outcome.command_id
        if order.status in ("requested", "failed") and order.attempt == attempt:
            order.status, order.sent_at = "sent", now
            order.next_attempt_at = now + self._config.poll_every
            order.updated_at, order.lease_until, order.lease_owner = now, None, None
            metrics.COMMANDS_SENT.inc()
            metrics.ORDER_TO_COMMAND.observe((now - order.created_at).total_seconds())
            await mark_started(session, order, meter, now)

    async def _record_polled(self, session: Any, order: ReconnectionOrder, meter: Meter,
                             outcome: Outcome, now: datetime) -> None:
        if outcome.status in ("accepted", "sent"):
            await self._wait_or_escalate(session, order, now)
        else:
            await apply_result(session, order, meter, outcome.status or "",
                               outcome.relay_state, now, now, backoff=self._config.backoff,
                               rng=self._rng)

    async def _wait_or_escalate(self, session: Any, order: ReconnectionOrder,
                                now: datetime) -> None:
        if now - order.created_at > self._config.deadline:
            await self._escalate(session, order, "deadline: HES has not executed", now)
            return
        order.next_attempt_at = now + self._config.poll_every
        order.updated_at, order.lease_until, order.lease_owner = now, None, None

    async def _record_rejected(self, session: Any, order: ReconnectionOrder, step: Step,
                               error: str, now: datetime) -> None:
        """A refused command goes to staff; a command the HES no longer knows (a refused
        poll) is sent again as a new attempt."""
        if step.kind == "poll":
            await record_failure(session, order, f"HES lost the command: {error}", now,
                                 backoff=self._config.backoff, rng=self._rng, new_attempt=True)
        else:
            await self._escalate(session, order, f"rejected: {error}", now)

    async def _record_unavailable(self, session: Any, order: ReconnectionOrder, step: Step,
                                  error: str, now: datetime) -> None:
        if step.kind == "poll":
            await self._wait_or_escalate(session, order, now)
        else:
            await record_failure(session, order, f"HES unavailable: {error}", now,
                                 backoff=self._config.backoff, rng=self._rng,
                                 new_attempt=False)

    async def _escalate(self, session: Any, order: ReconnectionOrder, reason: str,
                        now: datetime) -> None:
        log.warning("reconnection escalated to staff", order_id=order.id, reason=reason)
        await escalate(session, order, reason, now)


def _awaits_report(order: ReconnectionOrder) -> bool:
    """A command was sent for the current attempt: poll it rather than send another."""
    return order.status == "sent" and bool(order.command_id)

