"""Reconnection under faults: the whole app in-process, the worker driven by the test.

Every test ends where ARCHITECTURE.md decisions 4, 5 and 8 say it must: the ledger right,
every paid-up switchable meter connected (or, where the HES refused, on the staff list), and
exactly one executed HES command per idempotency key — never a second one for an order.

Messages go to a console chat linked to the account (as KYC would link it); the worker's
console messenger writes what it delivers to `app.console_lines`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from discom.accounts import load_dues
from discom.clock import utcnow
from discom.db import Database
from discom.hes.signing import HEADER as HES_SIGNATURE
from discom.hes.signing import sign as hes_sign
from discom.hes.simulator import SimCommand, SimMeter, iso, new_id
from discom.models import (
    Chat,
    ChatAccount,
    Consumer,
    LedgerEntry,
    Meter,
    OutboundMessage,
    ReconnectionOrder,
)
from discom.reconnection.results import order_id_from_correlation
from discom.reconnection.sweep import sweep
from tests.fakes.bijli_app import OPS_TOKEN, BijliApp, demo_no

DISCONNECTED = "disconnected for non-payment, with charges"  # ₹2,870.00 due
TWO_MONTHS = "disconnected, two months unpaid"
CT_METER = "CT-operated meter, cannot be switched remotely"
OPS = {"Authorization": f"Bearer {OPS_TOKEN}"}
WAIT_SECONDS = 30.0


@pytest.fixture
async def app(db: Database, bijli: BijliApp) -> BijliApp:
    """`bijli` on an empty database: `db` comes first and truncates PostgreSQL's tables
    before `bijli` seeds the demo (on SQLite each test has its own file anyway)."""
    return bijli


# --- helpers --------------------------------------------------------------------------------

async def link_chat(app: BijliApp, consumer_no: str, chat_ref: str) -> None:
    """A console chat linked to the account, as KYC links one: it is told everything."""
    consumer_id = await app.consumer_id(consumer_no)
    now = utcnow()
    async with app.db.uow() as uow:
        chat = Chat(channel="console", external_id=chat_ref, language="en",
                    language_chosen=True, created_at=now, last_inbound_at=now)
        uow.session.add(chat)
        await uow.session.flush()
        uow.session.add(ChatAccount(chat_id=chat.id, consumer_id=consumer_id, linked_at=now))
        await uow.commit()


async def total_due(app: BijliApp, consumer_no: str) -> int:
    consumer_id = await app.consumer_id(consumer_no)
    async with app.db.uow() as uow:
        return (await load_dues(uow.session, consumer_id)).total


async def pay(app: BijliApp, consumer_no: str, amount: int, reference: str) -> dict[str, Any]:
    response = await app.post_ops_payment(consumer_no, amount, reference)
    assert response.status_code == 201, response.text
    return response.json()


async def pay_all(app: BijliApp, consumer_no: str, reference: str) -> dict[str, Any]:
    return await pay(app, consumer_no, await total_due(app, consumer_no), reference)


async def meter_of(app: BijliApp, consumer_no: str) -> Meter:
    consumer_id = await app.consumer_id(consumer_no)
    async with app.db.uow() as uow:
        [meter] = (await uow.session.scalars(
            select(Meter).where(Meter.consumer_id == consumer_id))).all()
    return meter


async def set_meter(app: BijliApp, consumer_no: str, **values: Any) -> None:
    consumer_id = await app.consumer_id(consumer_no)
    async with app.db.uow() as uow:
        await uow.session.execute(
            update(Meter).where(Meter.consumer_id == consumer_id).values(**values))
        await uow.commit()


async def set_order(app: BijliApp, order_id: int, **values: Any) -> None:
    async with app.db.uow() as uow:
        await uow.session.execute(
            update(ReconnectionOrder).where(ReconnectionOrder.id == order_id).values(**values))
        await uow.commit()


async def kinds(app: BijliApp, chat_ref: str) -> list[str]:
    return [message.kind for message in await app.messages(chat_ref)]


def commands_for(app: BijliApp, meter_id: str) -> list[SimCommand]:
    return [c for c in app.services.simulator.commands if c.meter_id == meter_id]


def console_text(app: BijliApp) -> str:
    return "\n".join(app.console_lines)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str,
                     step: Callable[[], Awaitable[None]] | None = None,
                     within: float = WAIT_SECONDS) -> None:
    """Run `step` (a drain, say) until `condition` holds; fail clearly after `within` s."""
    deadline = time.monotonic() + within
    while True:
        if step is not None:
            await step()
        if await condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {within:.0f} s waiting for: {what}")
        await asyncio.sleep(0.02)


async def assert_reconciled(app: BijliApp, *, left_to_staff: frozenset[str] = frozenset()
                            ) -> None:
    """The invariants every test ends with.

    - every meter disconnected for non-payment, switchable and unblocked is either owed money
      or connected — except those deliberately `left_to_staff` (escalated);
    - no idempotency key executed twice, and at most one command per order executed
      successfully (a connect that reached the meter).
    """
    simulator = app.services.simulator
    assert not simulator.executions or max(simulator.executions.values()) == 1, (
        simulator.executions)
    succeeded: Counter[int] = Counter(
        order_id_from_correlation(command.correlation_id)
        for command in simulator.commands if command.status == "executed")
    assert None not in succeeded, "a command Bijli cannot trace back to its order"
    assert all(n == 1 for n in succeeded.values()), f"orders executed twice: {succeeded}"
    async with app.db.uow() as uow:
        meters = (await uow.session.scalars(select(Meter).where(
            Meter.relay_state == "disconnected", Meter.relay_reason == "non_payment",
            Meter.remote_switch.is_(True), Meter.block_reason.is_(None)))).all()
        stuck = [m.meter_id for m in meters
                 if (await load_dues(uow.session, m.consumer_id)).is_clear
                 and m.meter_id not in left_to_staff]
    assert stuck == [], f"paid up but still disconnected: {stuck}"


async def open_orders(app: BijliApp) -> int:
    async with app.db.uow() as uow:
        return await uow.session.scalar(select(func.count()).select_from(ReconnectionOrder)
                                        .where(ReconnectionOrder.status.in_(
                                            ("requested", "sent", "failed")))) or 0


async def post_hes_event(app: BijliApp, payload: dict[str, Any]) -> None:
    """A signed callback as the HES sends it (the simulator's own scheme and secret)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    secret = app.services.settings.hes_webhook_secret.get_secret_value()
    response = await app.client.post("/webhooks/hes", content=body, headers={
        "Content-Type": "application/json", HES_SIGNATURE: hes_sign(body, secret)})
    assert response.status_code == 200, response.text


def relay_connected_event(meter_id: str) -> dict[str, Any]:
    return {"type": "meter.event", "event_id": new_id("evt"), "meter_id": meter_id,
            "event": "relay_connected", "reason": "manual", "at": iso(utcnow())}


class HidingDirectory:
    """The HES's asset register without some meters: it answers 404 "unknown meter"."""

    def __init__(self, inner: Any, hidden: set[str]) -> None:
        self._inner, self.hidden = inner, hidden

    async def lookup(self, meter_id: str) -> SimMeter | None:
        if meter_id in self.hidden:
            return None
        return await self._inner.lookup(meter_id)


# --- the happy path and part payments --------------------------------------------------------

async def test_clearing_the_dues_in_cash_reconnects_the_meter_and_tells_the_consumer(
        app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    answer = await pay(app, no, 287_000, "CASH-1")
    assert answer["total_due_paise"] == 0
    [order_id] = answer["reconnection_orders"]

    await app.drain()

    [order] = await app.orders(no)
    assert (order.id, order.status, order.attempt, order.relay_state) == (
        order_id, "confirmed", 1, "connected")
    meter = await meter_of(app, no)
    assert (meter.relay_state, meter.relay_reason) == ("connected", None)
    [command] = commands_for(app, meter.meter_id)
    assert (command.action, command.status, command.idempotency_key) == (
        "connect", "executed", f"reconnect-{order_id}-1")
    assert app.services.simulator.executions == {f"reconnect-{order_id}-1": 1}
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_started", "supply_restored"]
    assert [m.status for m in await app.messages("meena")] == ["sent"] * 3
    text = console_text(app)
    assert text.index("Payment of ₹2,870.00 received") < text.index(
        "Reconnection of meter") < text.index("Supply restored")
    assert [p.amount_paise for p in await app.payments(no)] == [287_000]
    assert await total_due(app, no) == 0
    await assert_reconciled(app)


async def test_a_part_payment_creates_no_order_and_paying_the_rest_creates_one(app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")

    first = await pay(app, no, 100_000, "CASH-PART-1")
    await app.drain()

    assert (first["total_due_paise"], first["reconnection_orders"]) == (187_000, [])
    assert await app.orders(no) == []
    assert app.services.simulator.commands == []
    assert await kinds(app, "meena") == ["payment_received", "payment_partial"]
    assert (await meter_of(app, no)).relay_state == "disconnected"

    second = await pay(app, no, 187_000, "CASH-PART-2")
    await app.drain()

    assert second["total_due_paise"] == 0
    [order] = await app.orders(no)
    assert order.id in second["reconnection_orders"] and order.status == "confirmed"
    assert len(commands_for(app, (await meter_of(app, no)).meter_id)) == 1
    assert (await meter_of(app, no)).relay_state == "connected"
    assert await kinds(app, "meena") == [
        "payment_received", "payment_partial", "payment_received", "reconnection_started",
        "supply_restored"]
    assert sorted(p.amount_paise for p in await app.payments(no)) == [100_000, 187_000]
    await assert_reconciled(app)


# --- the HES misbehaving ---------------------------------------------------------------------

async def test_the_hes_down_for_a_while_delays_the_order_and_it_completes_once_it_is_back(
        app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    simulator = app.services.simulator
    simulator.configure(down=True)
    [order_id] = (await pay_all(app, no, "CASH-DOWN"))["reconnection_orders"]

    for _ in range(3):  # several passes, each retrying what its backoff made due
        await app.drain()

    [order] = await app.orders(no)
    assert order.status == "failed" and order.tries >= 2, (order.status, order.tries)
    assert order.attempt == 1, "a transport failure must retry the same idempotency key"
    assert "unavailable" in (order.last_error or "")
    assert order.next_attempt_at > order.updated_at, "no backoff after a failure"
    assert simulator.commands == [] and not simulator.executions
    assert await kinds(app, "meena") == ["payment_received", "reconnection_delayed"]
    assert "taking longer than usual" in console_text(app)

    simulator.configure(down=False)
    await eventually(lambda: _order_status(app, order_id, "confirmed"),
                     "the order to be confirmed once the HES is back", step=app.drain)

    meter = await meter_of(app, no)
    assert meter.relay_state == "connected"
    assert simulator.executions == {f"reconnect-{order_id}-1": 1}
    assert len(commands_for(app, meter.meter_id)) == 1
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_delayed", "reconnection_started", "supply_restored"]
    await assert_reconciled(app)


async def _order_status(app: BijliApp, order_id: int, status: str) -> bool:
    async with app.db.uow() as uow:
        order = await uow.session.get(ReconnectionOrder, order_id)
    return order is not None and order.status == status


async def test_a_lost_hes_callback_is_made_good_by_polling(app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    simulator = app.services.simulator
    simulator.configure(drop_callbacks=True)
    [order_id] = (await pay_all(app, no, "CASH-LOST"))["reconnection_orders"]

    await eventually(lambda: _order_status(app, order_id, "confirmed"),
                     "polling to confirm the order", step=app.drain)

    assert simulator.callbacks.dropped >= 1 and simulator.callbacks.delivered == 0
    assert (await meter_of(app, no)).relay_state == "connected"
    assert simulator.executions == {f"reconnect-{order_id}-1": 1}
    assert len(simulator.commands) == 1
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_started", "supply_restored"]
    await assert_reconciled(app)


async def test_a_command_the_hes_failed_is_retried_under_a_new_idempotency_key(app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    simulator = app.services.simulator
    simulator.configure(failure_rate=1.0)
    [order_id] = (await pay_all(app, no, "CASH-FAIL"))["reconnection_orders"]

    worker = app.worker()
    await worker.run_once()  # sends attempt 1
    await simulator.drain()  # the meter does not respond; the failure comes back by callback

    [order] = await app.orders(no)
    assert (order.status, order.attempt, order.command_id) == ("failed", 2, None)
    [failed] = simulator.commands
    assert (failed.status, failed.idempotency_key) == ("failed", f"reconnect-{order_id}-1")

    simulator.configure(failure_rate=0.0)
    await eventually(lambda: _order_status(app, order_id, "confirmed"),
                     "the second attempt to be confirmed", step=app.drain)

    keys = [c.idempotency_key for c in simulator.commands]
    assert keys == [f"reconnect-{order_id}-1", f"reconnect-{order_id}-2"]
    assert [c.status for c in simulator.commands] == ["failed", "executed"]
    assert dict(simulator.executions) == {keys[0]: 1, keys[1]: 1}
    assert (await meter_of(app, no)).relay_state == "connected"
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_started", "reconnection_delayed", "supply_restored"]
    await assert_reconciled(app)


async def test_a_late_failure_report_of_a_superseded_command_does_not_start_another(
        app: BijliApp):
    """Callbacks arrive late and out of order: attempt 1's failure, learnt by polling, must
    not be applied again when its callback finally comes while attempt 2 is on its way."""
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    simulator = app.services.simulator
    simulator.configure(failure_rate=1.0, drop_callbacks=True, latency=0.0)
    [order_id] = (await pay_all(app, no, "CASH-LATE"))["reconnection_orders"]
    worker = app.worker()
    await worker.run_once()  # attempt 1 sent; it fails at the meter; its callback is lost
    await simulator.drain()
    await set_order(app, order_id, next_attempt_at=utcnow())
    await worker.run_once()  # polling finds attempt 1 failed: attempt 2 is due
    [order] = await app.orders(no)
    assert (order.status, order.attempt, order.command_id) == ("failed", 2, None)
    [first] = simulator.commands
    stale_failure = {
        "type": "command.result", "command_id": first.command_id,
        "correlation_id": first.correlation_id, "meter_id": first.meter_id,
        "status": "failed", "relay_state": first.relay_state, "error": first.error,
        "at": iso(first.updated_at)}
    # Attempt 1's failure callback turns up now, before attempt 2 is sent: already known.
    await post_hes_event(app, {**stale_failure, "event_id": new_id("evt")})
    [order] = await app.orders(no)
    assert (order.status, order.attempt, order.command_id) == ("failed", 2, None), (
        "a stale report of a superseded command started yet another attempt")

    simulator.configure(failure_rate=0.0, latency=0.0)
    await set_order(app, order_id, next_attempt_at=utcnow())
    await worker.run_once()  # attempt 2 sent and executed (its callback lost as well)
    await simulator.drain()
    [order] = await app.orders(no)
    assert (order.status, order.attempt) == ("sent", 2)
    [_, second] = simulator.commands
    # And again while attempt 2 is on its way (a HES redelivering late).
    await post_hes_event(app, {**stale_failure, "event_id": new_id("evt")})

    [order] = await app.orders(no)
    assert (order.status, order.attempt, order.command_id) == ("sent", 2, second.command_id), (
        "a stale report of a superseded command moved the current order")
    simulator.configure(drop_callbacks=False)
    await eventually(lambda: _order_status(app, order_id, "confirmed"),
                     "the second attempt to be confirmed", step=app.drain)
    assert len(simulator.commands) == 2
    assert (await meter_of(app, no)).relay_state == "connected"
    await assert_reconciled(app)


async def test_a_command_the_hes_rejects_goes_to_staff_and_the_consumer_is_told_it_is_delayed(
        app: BijliApp, monkeypatch: pytest.MonkeyPatch):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    meter_id = (await meter_of(app, no)).meter_id
    simulator = app.services.simulator
    monkeypatch.setattr(simulator, "_directory",
                        HidingDirectory(simulator._directory, {meter_id}))
    [order_id] = (await pay_all(app, no, "CASH-REJECT"))["reconnection_orders"]

    await app.drain()
    await app.drain()

    [order] = await app.orders(no)
    assert order.status == "escalated"
    assert "rejected" in (order.last_error or "") and "unknown meter" in order.last_error
    assert simulator.commands == [] and not simulator.executions
    listed = (await app.client.get("/ops/reconnections", headers=OPS)).json()
    assert [(r["order_id"], r["consumer_no"], r["meter_id"]) for r in listed] == [
        (order_id, no, meter_id)]
    assert (await app.client.get("/ops/reconnections")).status_code == 401
    assert await kinds(app, "meena") == ["payment_received", "reconnection_delayed"]
    assert (await meter_of(app, no)).relay_state == "disconnected"
    assert await total_due(app, no) == 0
    await assert_reconciled(app, left_to_staff=frozenset({meter_id}))


async def test_an_order_past_its_deadline_is_escalated_and_a_later_relay_connected_confirms_it(
        app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    meter_id = (await meter_of(app, no)).meter_id
    simulator = app.services.simulator
    simulator.configure(down=True)
    [order_id] = (await pay_all(app, no, "CASH-DEADLINE"))["reconnection_orders"]
    await app.drain()
    deadline = app.services.driver_config.deadline
    await set_order(app, order_id, created_at=utcnow() - deadline - timedelta(minutes=1),
                    next_attempt_at=utcnow())

    await app.drain()

    [order] = await app.orders(no)
    assert order.status == "escalated" and "deadline" in (order.last_error or "")
    listed = (await app.client.get("/ops/reconnections", headers=OPS)).json()
    assert [r["order_id"] for r in listed] == [order_id]
    assert await kinds(app, "meena") == ["payment_received", "reconnection_delayed"]
    assert await sweep(app.db, utcnow()) == 0, "the sweep re-opened an escalated order at once"

    # The relay is closed after all (staff at the HES console, say): the HES reports it.
    simulator.configure(down=False)
    await post_hes_event(app, relay_connected_event(meter_id))
    await app.drain()

    [order] = await app.orders(no)
    assert (order.status, order.relay_state) == ("confirmed", "connected")
    assert (await meter_of(app, no)).relay_state == "connected"
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_delayed", "reconnection_started", "supply_restored"]
    assert "Supply restored" in console_text(app)
    assert (await app.client.get("/ops/reconnections", headers=OPS)).json() == []
    assert simulator.commands == []
    await assert_reconciled(app)


async def test_a_command_still_unexecuted_at_the_deadline_is_escalated_and_its_late_result_confirms(
        app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    simulator = app.services.simulator
    simulator.configure(latency=3.0)  # the meter takes its time: the poll sees "accepted"
    [order_id] = (await pay_all(app, no, "CASH-SLOW"))["reconnection_orders"]
    worker = app.worker()
    await worker.run_once()
    [order] = await app.orders(no)
    assert order.status == "sent"
    deadline = app.services.driver_config.deadline
    await set_order(app, order_id, created_at=utcnow() - deadline - timedelta(minutes=1),
                    next_attempt_at=utcnow())

    await worker.run_once()

    [order] = await app.orders(no)
    assert order.status == "escalated", (order.status, order.last_error)
    assert "deadline" in (order.last_error or "")
    await simulator.drain()  # the command executes, late; its result comes by callback
    await app.drain()

    [order] = await app.orders(no)
    assert order.status == "confirmed"
    assert (await meter_of(app, no)).relay_state == "connected"
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_started", "reconnection_delayed", "supply_restored"]
    assert len(simulator.commands) == 1
    await assert_reconciled(app)


# --- meters Bijli must not switch ------------------------------------------------------------

async def test_a_ct_operated_meter_gets_a_technician_not_a_command(app: BijliApp):
    no = demo_no(CT_METER)
    await link_chat(app, no, "malwa")
    # Cut by a technician for non-payment (a CT meter has no relay Bijli could open).
    await set_meter(app, no, relay_state="disconnected", relay_reason="non_payment",
                    relay_changed_at=utcnow() - timedelta(days=1))
    meter_id = (await meter_of(app, no)).meter_id

    answer = await pay_all(app, no, "CASH-CT")
    await app.drain()

    assert answer["reconnection_orders"] == [] and await app.orders(no) == []
    assert commands_for(app, meter_id) == []
    assert await kinds(app, "malwa") == ["payment_received", "field_reconnection"]
    assert "a technician will reconnect it" in console_text(app)
    listed = (await app.client.get("/ops/field-reconnections", headers=OPS)).json()
    assert [(r["consumer_no"], r["meter_id"]) for r in listed] == [(no, meter_id)]
    assert await sweep(app.db, utcnow()) == 0
    await assert_reconciled(app)


async def test_a_blocked_meter_gets_a_technician_not_a_command(app: BijliApp):
    no = demo_no(TWO_MONTHS)
    await link_chat(app, no, "rekha")
    await set_meter(app, no, block_reason="tamper")
    meter_id = (await meter_of(app, no)).meter_id

    answer = await pay_all(app, no, "CASH-BLOCKED")
    await app.drain()

    assert answer["reconnection_orders"] == [] and await app.orders(no) == []
    assert app.services.simulator.commands == []
    assert await kinds(app, "rekha") == ["payment_received", "field_reconnection"]
    assert "technician" in console_text(app)
    listed = (await app.client.get("/ops/field-reconnections", headers=OPS)).json()
    assert [(r["consumer_no"], r["meter_id"]) for r in listed] == [(no, meter_id)]
    assert (await meter_of(app, no)).relay_state == "disconnected"
    assert await sweep(app.db, utcnow()) == 0
    await assert_reconciled(app)


async def test_an_armed_meter_asks_for_the_button_and_the_press_restores_the_supply(
        app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    simulator = app.services.simulator
    simulator.configure(ready_for_reconnection_mode=True)
    meter_id = (await meter_of(app, no)).meter_id
    await pay_all(app, no, "CASH-ARMED")

    await app.drain()

    [order] = await app.orders(no)
    assert (order.status, order.relay_state) == ("confirmed", "ready_for_reconnection")
    assert (await meter_of(app, no)).relay_state == "ready_for_reconnection"
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_started", "meter_armed"]
    assert "Press the button on your meter" in console_text(app)
    assert "Supply restored" not in console_text(app)

    await simulator.press_button(meter_id)
    await simulator.drain()
    await app.drain()

    assert (await meter_of(app, no)).relay_state == "connected"
    assert await kinds(app, "meena") == [
        "payment_received", "reconnection_started", "meter_armed", "supply_restored"]
    assert "Supply restored" in console_text(app)
    assert len(simulator.commands) == 1
    await assert_reconciled(app)


# --- the sweep --------------------------------------------------------------------------------

async def _credit_behind_bijlis_back(app: BijliApp, consumer_no: str, key: str) -> None:
    """A payment in the ledger whose event never reached the reconciler (no order)."""
    consumer_id = await app.consumer_id(consumer_no)
    amount = await total_due(app, consumer_no)
    async with app.db.uow() as uow:
        uow.session.add(LedgerEntry(consumer_id=consumer_id, kind="payment",
                                    amount_paise=-amount, detail="billing",
                                    idempotency_key=key, posted_at=utcnow()))
        await uow.commit()


async def test_the_sweep_creates_the_one_missing_order_and_respects_an_escalation(
        app: BijliApp, monkeypatch: pytest.MonkeyPatch):
    no = demo_no(DISCONNECTED)
    meter_id = (await meter_of(app, no)).meter_id
    await _credit_behind_bijlis_back(app, no, "payment/billing/LOST-1")
    assert await app.orders(no) == []

    assert await sweep(app.db, utcnow()) == 1
    assert await sweep(app.db, utcnow()) == 0
    [order] = await app.orders(no)
    assert (order.status, order.cause) == ("requested", "sweep")

    # The HES does not know the meter: the order is escalated ...
    simulator = app.services.simulator
    monkeypatch.setattr(simulator, "_directory",
                        HidingDirectory(simulator._directory, {meter_id}))
    await app.drain()  # (the worker's own sweep runs here too)
    [order] = await app.orders(no)
    assert order.status == "escalated"
    # ... and stays with staff during the cooldown, however often the sweep runs.
    assert await sweep(app.db, utcnow()) == 0
    await app.drain()
    assert len(await app.orders(no)) == 1

    # After the cooldown the sweep tries again by itself; the register is fixed by then.
    monkeypatch.setattr(simulator, "_directory", simulator._directory._inner)
    await set_order(app, order.id, updated_at=utcnow() - timedelta(hours=2))
    assert await sweep(app.db, utcnow()) == 1
    await app.drain()

    orders = await app.orders(no)
    assert [o.status for o in orders] == ["escalated", "confirmed"]
    assert (await meter_of(app, no)).relay_state == "connected"
    assert len(simulator.commands) == 1
    await assert_reconciled(app)


async def test_the_workers_own_sweep_reconnects_a_payment_whose_event_was_lost(app: BijliApp):
    no = demo_no(DISCONNECTED)
    await link_chat(app, no, "meena")
    await _credit_behind_bijlis_back(app, no, "payment/billing/LOST-2")

    await eventually(lambda: _meter_connected(app, no),
                     "the sweep's order to reconnect the meter", step=app.drain)

    [order] = await app.orders(no)
    assert (order.cause, order.status) == ("sweep", "confirmed")
    assert await kinds(app, "meena") == ["reconnection_started", "supply_restored"]
    await assert_reconciled(app)


async def _meter_connected(app: BijliApp, consumer_no: str) -> bool:
    return (await meter_of(app, consumer_no)).relay_state == "connected"


# --- several workers ---------------------------------------------------------------------------

CROWD = 30


async def _crowd_of_disconnected_consumers(app: BijliApp) -> list[str]:
    """CROWD consumers cut for non-payment, each owing one bill."""
    now = utcnow()
    numbers = [f"{2_000_000_001 + n}" for n in range(CROWD)]
    async with app.db.uow() as uow:
        for no in numbers:
            consumer = Consumer(consumer_no=no, name=f"Crowd {no}", mobile=None,
                                tariff_category="LV1", division="Indore City East")
            uow.session.add(consumer)
            await uow.session.flush()
            uow.session.add(LedgerEntry(
                consumer_id=consumer.id, kind="bill", amount_paise=1_234_00,
                bill_month="2026-10", due_date=(now - timedelta(days=20)).date(),
                idempotency_key=f"bill/{no}/2026-10", posted_at=now - timedelta(days=40)))
            uow.session.add(Meter(
                meter_id=f"SM{no}", consumer_id=consumer.id, remote_switch=True,
                relay_state="disconnected", relay_reason="non_payment",
                relay_changed_at=now - timedelta(days=2)))
        await uow.commit()
    return numbers


async def test_three_workers_at_once_send_exactly_one_command_per_order(app: BijliApp):
    numbers = await _crowd_of_disconnected_consumers(app)
    for no in numbers:
        await pay(app, no, 1_234_00, f"CASH-{no}")
    assert await open_orders(app) == CROWD
    # Small batches, so the three really share the work instead of one taking it all.
    services = app.services
    services.driver_config = replace(services.driver_config, batch=4)
    workers = [app.worker() for _ in range(3)]

    async def all_at_once() -> None:
        await asyncio.gather(*(w.run_once() for w in workers), *(w.drain() for w in workers))
        await services.simulator.drain()

    async def all_connected() -> bool:
        async with app.db.uow() as uow:
            left = await uow.session.scalar(select(func.count()).select_from(Meter).where(
                Meter.meter_id.like("SM2%"), Meter.relay_state != "connected"))
        return left == 0

    await eventually(all_connected, f"all {CROWD} meters connected", step=all_at_once)

    simulator = services.simulator
    assert len(simulator.commands) == CROWD, len(simulator.commands)
    per_meter: dict[str, int] = {}
    for command in simulator.commands:
        per_meter[command.meter_id] = per_meter.get(command.meter_id, 0) + 1
    assert per_meter == {f"SM{no}": 1 for no in numbers}
    assert max(simulator.executions.values()) == 1
    async with app.db.uow() as uow:
        statuses = (await uow.session.scalars(select(ReconnectionOrder.status))).all()
        restored = await uow.session.scalar(select(func.count()).select_from(OutboundMessage)
                                            .where(OutboundMessage.kind == "supply_restored"))
    assert sorted(statuses) == ["confirmed"] * CROWD
    assert restored == 0  # these consumers have no chat: nothing is owed to anyone
    await assert_reconciled(app)


async def test_an_order_whose_outcome_cannot_be_recorded_does_not_hold_back_its_round(
    app: BijliApp, monkeypatch: pytest.MonkeyPatch,
):
    """A round's outcomes are recorded in one transaction; when that fails, one at a time,
    so only the faulty order waits for its lease to run out — and is then driven again
    under the same idempotency key, without a second command."""
    import discom.reconnection.driver as driver_module

    numbers = (await _crowd_of_disconnected_consumers(app))[:5]
    for no in numbers:
        await pay(app, no, 1_234_00, f"CASH-{no}")
    faulty = f"SM{numbers[2]}"
    faults: list[str] = []
    fault_lifted = asyncio.Event()
    real_mark_started = driver_module.mark_started

    async def mark_started_failing(session: Any, order: Any, meter: Meter, now: Any) -> None:
        if meter.meter_id == faulty and not fault_lifted.is_set():
            faults.append(meter.meter_id)
            raise RuntimeError("a fault while recording this order")
        await real_mark_started(session, order, meter, now)

    monkeypatch.setattr(driver_module, "mark_started", mark_started_failing)
    # No callbacks: the worker records every outcome itself (polling confirms them later).
    app.services.simulator.configure(drop_callbacks=True)
    await app.worker().run_once()

    assert faults and set(faults) == {faulty}
    statuses = {no: [o.status for o in await app.orders(no)] for no in numbers}
    assert statuses.pop(numbers[2]) == ["requested"], "the faulty order waits for its lease"
    assert all(s == ["sent"] for s in statuses.values()), statuses

    fault_lifted.set()
    [order] = await app.orders(numbers[2])
    await set_order(app, order.id, lease_until=utcnow() - timedelta(seconds=1))
    await eventually(lambda: _meter_connected(app, numbers[2]), "the faulty order, retried",
                     step=app.drain)
    assert len(commands_for(app, faulty)) == 1  # the retry got the HES's first command back
    for no in numbers:
        assert [o.status for o in await app.orders(no)] == ["confirmed"], no
    await assert_reconciled(app)
