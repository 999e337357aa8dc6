"""The worker side of reconnection: claim due orders, talk to the HES, record what it said.

Each order is driven in three steps so no database transaction is held open across a network
call: (1) under the order's lease, decide what to do; (2) call the HES; (3) record the
outcome, if the lease is still ours. A worker killed between (2) and (3) leaves a lease that
runs out; the next worker repeats (2) with the same idempotency key, and the HES answers with
the command it already has — never a second one.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import or_, select, update

from discom.accounts import load_dues
from discom.clock import utcnow
from discom.db import Database
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
    """What step (1) decided: send a command, or poll one already sent."""

    order_id: int
    kind: str  # "send" | "poll"
    meter_id: str
    attempt: int
    command_id: str | None


class ReconnectionDriver:
    def __init__(self, db: Database, hes: HeadEnd, config: DriverConfig, owner: str, *,
                 rejected: type[Exception], unavailable: type[Exception],
                 clock: Any = utcnow, rng: random.Random | None = None) -> None:
        self._db, self._hes, self._config, self._owner = db, hes, config, owner
        self._rejected, self._unavailable = rejected, unavailable
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    async def run_due(self) -> int:
        """Drive every due order (up to a batch), a bounded number at a time."""
        order_ids = await self.claim_due()
        limit = asyncio.Semaphore(self._config.concurrency)

        async def drive_one(order_id: int) -> None:
            async with limit:
                await self.drive(order_id)

        await asyncio.gather(*(drive_one(order_id) for order_id in order_ids))
        return len(order_ids)

    async def claim_due(self) -> list[int]:
        """Lease due orders to this worker (SKIP LOCKED: workers never wait for each other)."""
        now = self._clock()
        async with self._db.uow() as uow:
            due = (
                select(ReconnectionOrder.id)
                .where(ReconnectionOrder.status.in_(OPEN_ORDER_STATUSES),
                       ReconnectionOrder.next_attempt_at <= now,
                       or_(ReconnectionOrder.lease_until.is_(None),
                           ReconnectionOrder.lease_until < now))
                .order_by(ReconnectionOrder.next_attempt_at)
                .limit(self._config.batch)
                .with_for_update(skip_locked=True)
            )
            order_ids = list((await uow.session.scalars(due)).all())
            if order_ids:
                await uow.session.execute(
                    update(ReconnectionOrder)
                    .where(ReconnectionOrder.id.in_(order_ids))
                    .values(lease_until=now + self._config.lease, lease_owner=self._owner))
            await uow.commit()
        return order_ids

    async def drive(self, order_id: int) -> None:
        try:
            step = await self._decide(order_id)
            if step is not None:
                await self._act(step)
        except Exception:
            # One bad order must not stop the others; its lease runs out and it is retried.
            log.exception("reconnection order failed unexpectedly", order_id=order_id)

    async def _decide(self, order_id: int) -> Step | None:
        now = self._clock()
        async with self._db.uow() as uow:
            order = await self._leased(uow.session, order_id)
            if order is None:
                return None
            meter = await uow.session.get(Meter, order.meter_pk)
            assert meter is not None
            if order.status == "sent" and order.command_id:
                return Step(order.id, "poll", meter.meter_id, order.attempt, order.command_id)
            if not await self._still_wanted(uow.session, meter):
                order.status, order.updated_at, order.lease_until = "cancelled", now, None
                await uow.commit()
                return None
            if now - order.created_at > self._config.deadline:
                await self._escalate(uow.session, order, "deadline: not confirmed in time", now)
                await uow.commit()
                return None
            return Step(order.id, "send", meter.meter_id, order.attempt, None)

    async def _still_wanted(self, session: Any, meter: Meter) -> bool:
        dues = await load_dues(session, meter.consumer_id)
        return reconnection_action(dues.is_clear, facts(meter)) is Action.COMMAND

    async def _act(self, step: Step) -> None:
        try:
            if step.kind == "send":
                receipt = await self._hes.send_command(
                    meter_id=step.meter_id, action="connect",
                    correlation_id=correlation_id(step.order_id, step.attempt),
                    idempotency_key=f"reconnect-{step.order_id}-{step.attempt}",
                    reason="payment_cleared", reply_url=self._config.reply_url,
                    expires_at=self._clock() + self._config.command_ttl)
                await self._record_sent(step, receipt.command_id)
            else:
                status = await self._hes.get_command(step.command_id)
                await self._record_polled(step, status.status, status.relay_state)
        except self._rejected as exc:
            metrics.HES_ERRORS.labels("rejected").inc()
            await self._record_rejected(step, str(exc))
        except self._unavailable as exc:
            metrics.HES_ERRORS.labels("unavailable").inc()
            await self._record_unavailable(step, str(exc))

    async def _leased(self, session: Any, order_id: int) -> ReconnectionOrder | None:
        order = await session.get(ReconnectionOrder, order_id, with_for_update=True)
        if order is None or order.lease_owner != self._owner:
            return None
        return order if order.status in OPEN_ORDER_STATUSES else None

    async def _record_sent(self, step: Step, command_id: str) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            order = await uow.session.get(ReconnectionOrder, step.order_id, with_for_update=True)
            assert order is not None
            if order.command_id is None and order.attempt == step.attempt:
                order.command_id = command_id
            if order.status in ("requested", "failed") and order.attempt == step.attempt:
                meter = await uow.session.get(Meter, order.meter_pk)
                assert meter is not None
                order.status, order.sent_at = "sent", now
                order.next_attempt_at = now + self._config.poll_every
                order.updated_at, order.lease_until, order.lease_owner = now, None, None
                metrics.COMMANDS_SENT.inc()
                metrics.ORDER_TO_COMMAND.observe((now - order.created_at).total_seconds())
                await mark_started(uow.session, order, meter, now)
            await uow.commit()

    async def _record_polled(self, step: Step, status: str, relay_state: str | None) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            order = await self._leased(uow.session, step.order_id)
            if order is None or order.command_id != step.command_id:
                return
            if status in ("accepted", "sent"):
                await self._wait_or_escalate(uow.session, order, now)
            else:
                await apply_result(uow.session, order, status, relay_state, now, now,
                                   backoff=self._config.backoff, rng=self._rng)
            await uow.commit()

    async def _wait_or_escalate(self, session: Any, order: ReconnectionOrder,
                                now: datetime) -> None:
        if now - order.created_at > self._config.deadline:
            await self._escalate(session, order, "deadline: HES has not executed", now)
            return
        order.next_attempt_at = now + self._config.poll_every
        order.updated_at, order.lease_until, order.lease_owner = now, None, None

    async def _record_rejected(self, step: Step, error: str) -> None:
        """A refused command goes to staff; a command the HES no longer knows (a refused
        poll) is sent again as a new attempt."""
        now = self._clock()
        async with self._db.uow() as uow:
            order = await self._leased(uow.session, step.order_id)
            if order is not None and step.kind == "poll":
                await record_failure(uow.session, order, f"HES lost the command: {error}", now,
                                     backoff=self._config.backoff, rng=self._rng,
                                     new_attempt=True)
            elif order is not None:
                await self._escalate(uow.session, order, f"rejected: {error}", now)
            await uow.commit()

    async def _record_unavailable(self, step: Step, error: str) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            order = await self._leased(uow.session, step.order_id)
            if order is None:
                return
            if step.kind == "poll":
                await self._wait_or_escalate(uow.session, order, now)
            else:
                await record_failure(uow.session, order, f"HES unavailable: {error}", now,
                                     backoff=self._config.backoff, rng=self._rng,
                                     new_attempt=False)
            await uow.commit()

    async def _escalate(self, session: Any, order: ReconnectionOrder, reason: str,
                        now: datetime) -> None:
        log.warning("reconnection escalated to staff", order_id=order.id, reason=reason)
        await escalate(session, order, reason, now)
