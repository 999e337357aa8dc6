"""Use case: the discom refunds a payment on Razorpay, and Bijli's books and the consumer follow.

Refunds are made in the payment sandbox (what the dashboard's "Issue refund" does) and its
exact signed webhooks — `refund.processed` and `payment.refunded`, two event ids for one
refund id — are posted to `/webhooks/razorpay`. The ledger gets one debit per refund (an
adjustment; the payment stays as it was), the consumer is told, staff see it at
`GET /ops/refunds`, and nothing is switched at the meter because of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import razorpay
from sqlalchemy import select

from discom.models import LedgerEntry, Meter, Refund
from discom.money import format_inr
from discom.payments.sandbox import WebhookEvent
from tests.fakes.bijli_app import OPS_TOKEN, BijliApp, demo_no
from tests.fakes.razorpay_server import RazorpayServer
from tests.payment_steps import (
    DISCONNECTED,
    DISCONNECTED_TOTAL,
    DUE_SOON,
    ask_for_link,
    console_text,
    counts,
    demo_owed,
    dues_of,
    edited,
    entity,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_chat_to,
    payment_credits,
)


async def deliver(bijli: BijliApp, events: list[WebhookEvent]) -> list[str]:
    answers = []
    for event in events:
        response = await bijli.post_razorpay(event.body, event.id)
        assert response.status_code == 200, response.text
        answers.append(response.json()["status"])
    return answers


async def paid_by_own_chat(bijli: BijliApp, case: str) -> tuple[str, str, list[WebhookEvent]]:
    """The account's own (KYC-linked) chat pays its whole link; (consumer no, payment id,
    the payment's events, not yet delivered)."""
    consumer_no = demo_no(case)
    await link_chat_to(bijli, "payer", consumer_no)
    payer = await ask_for_link(bijli, consumer_no)
    checkout = bijli.razorpay.pay(payer.link_id)
    return consumer_no, checkout.payment.id, checkout.events


async def refunds_of(bijli: BijliApp, consumer_no: str) -> list[Refund]:
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        return list((await uow.session.scalars(select(Refund).where(
            Refund.consumer_id == consumer_id).order_by(Refund.id))).all())


async def refund_debits(bijli: BijliApp, consumer_no: str) -> list[int]:
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        return list((await uow.session.scalars(select(LedgerEntry.amount_paise).where(
            LedgerEntry.consumer_id == consumer_id, LedgerEntry.kind == "adjustment",
            LedgerEntry.detail == "refund").order_by(LedgerEntry.id))).all())


async def relay_states(bijli: BijliApp, consumer_no: str) -> list[str]:
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        return list((await uow.session.scalars(select(Meter.relay_state).where(
            Meter.consumer_id == consumer_id))).all())


# --- the books ------------------------------------------------------------------------------

async def test_a_refund_is_debited_once_though_two_events_report_it_each_delivered_twice(
        bijli: BijliApp):
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DUE_SOON)
    await deliver(bijli, events)
    refund_events = bijli.razorpay.refund(payment_id)

    answers = await deliver(bijli, refund_events + refund_events)

    assert answers == ["applied", "duplicate", "duplicate", "duplicate"]
    [refund] = await refunds_of(bijli, consumer_no)
    assert refund.external_id == entity(refund_events[0].json(), "refund")["id"]
    assert refund.amount_paise == demo_owed(DUE_SOON)
    assert await refund_debits(bijli, consumer_no) == [demo_owed(DUE_SOON)]
    # History is not edited: the payment stays credited, and the dues come back.
    assert await payment_credits(bijli, consumer_no) == [demo_owed(DUE_SOON)]
    dues = await dues_of(bijli, consumer_no)
    assert (dues.total, dues.charges) == (demo_owed(DUE_SOON), 0)


async def test_partial_refunds_reopen_only_what_they_give_back(bijli: BijliApp):
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DUE_SOON)
    await deliver(bijli, events)

    await deliver(bijli, bijli.razorpay.refund(payment_id, 10_000))
    await deliver(bijli, bijli.razorpay.refund(payment_id, 2_500))

    assert await refund_debits(bijli, consumer_no) == [10_000, 2_500]
    dues = await dues_of(bijli, consumer_no)
    # The money taken back re-opens the bill it had paid: no new "charge" appears.
    assert (dues.total, dues.current_bill, dues.charges) == (12_500, 12_500, 0)


async def test_refunds_beyond_the_payment_are_refused_and_write_nothing(bijli: BijliApp):
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DUE_SOON)
    await deliver(bijli, events)
    [processed, _] = bijli.razorpay.refund(payment_id, 10_000)

    def more_than_paid(document: dict[str, Any]) -> None:
        entity(document, "refund").update(id="rfnd_TooMuch0000001", amount=demo_owed(DUE_SOON))

    await deliver(bijli, [processed])
    before = await counts(bijli)
    response = await bijli.post_razorpay(edited(processed, more_than_paid), "evtTooMuch0001")

    assert response.json() == {"status": "refused"}
    assert await counts(bijli) == before
    assert await refund_debits(bijli, consumer_no) == [10_000]


async def test_a_refund_of_a_payment_bijli_never_credited_is_acknowledged_and_changes_nothing(
        bijli: BijliApp):
    """Razorpay auto-refunds payments that were never captured; it says so with
    `captured: false`. There is nothing of Bijli's to debit."""
    consumer_no, payment_id, _ = await paid_by_own_chat(bijli, DUE_SOON)
    [processed, _] = bijli.razorpay.refund(payment_id)

    def auto_refund(document: dict[str, Any]) -> None:
        entity(document, "payment").update(captured=False, status="refunded")

    before = await counts(bijli)
    response = await bijli.post_razorpay(edited(processed, auto_refund), processed.id)

    assert response.json() == {"status": "ignored"}
    assert (await counts(bijli))["payments"] == before["payments"] == 0
    assert await refunds_of(bijli, consumer_no) == []


async def test_a_refund_delivered_before_its_payment_credits_the_payment_then_debits_it(
        bijli: BijliApp):
    """Razorpay does not keep order: the refund's own (signed) payment entity credits the
    payment, so neither is lost, and the payment's late events change nothing more."""
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DISCONNECTED)
    refund_events = bijli.razorpay.refund(payment_id)

    assert await deliver(bijli, refund_events) == ["applied", "duplicate"]
    await deliver(bijli, events)
    await bijli.drain()

    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert await refund_debits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert (await dues_of(bijli, consumer_no)).total == DISCONNECTED_TOTAL
    # The account owes again: no command was sent to the meter for it.
    assert bijli.services.simulator.commands == []
    assert await relay_states(bijli, consumer_no) == ["disconnected"]


# --- the meter ------------------------------------------------------------------------------

async def test_a_refund_of_a_payment_that_reconnected_the_meter_leaves_it_connected(
        bijli: BijliApp):
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DISCONNECTED)
    await deliver(bijli, events)
    await bijli.drain()
    assert await relay_states(bijli, consumer_no) == ["connected"]
    commands = list(bijli.services.simulator.commands)

    await deliver(bijli, bijli.razorpay.refund(payment_id))
    await bijli.drain()

    assert (await dues_of(bijli, consumer_no)).total == DISCONNECTED_TOTAL
    assert await relay_states(bijli, consumer_no) == ["connected"]
    assert bijli.services.simulator.commands == commands


async def test_a_refund_before_the_reconnection_command_stops_it(bijli: BijliApp):
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DISCONNECTED)
    await deliver(bijli, events)  # an order is opened; the worker has not run yet

    await deliver(bijli, bijli.razorpay.refund(payment_id))
    await bijli.drain()

    assert bijli.services.simulator.commands == []
    assert [o.status for o in await bijli.orders(consumer_no)] == ["cancelled"]
    assert await relay_states(bijli, consumer_no) == ["disconnected"]


# --- the consumer and staff -----------------------------------------------------------------

async def test_the_account_holder_is_told_of_the_refund_and_what_is_due_again(bijli: BijliApp):
    _, payment_id, events = await paid_by_own_chat(bijli, DUE_SOON)
    await deliver(bijli, events)
    await deliver(bijli, bijli.razorpay.refund(payment_id, 10_000))
    await bijli.drain()

    kinds = [m.kind for m in await bijli.messages("payer")]
    assert kinds.count("payment_refunded") == 1
    told = console_text(bijli)
    assert (f"{format_inr(10_000)} of your payment {payment_id} has been refunded to you. "
            f"Your dues are now {format_inr(10_000)}.") in told


async def test_a_hindi_speaking_holder_is_told_in_hindi(bijli: BijliApp):
    consumer_no = demo_no(DUE_SOON)
    await link_chat_to(bijli, "payer", consumer_no)
    payer = await ask_for_link(bijli, consumer_no)
    await payer.chat.start_in("hi")
    checkout = bijli.razorpay.pay(payer.link_id)
    await deliver(bijli, checkout.events)

    await deliver(bijli, bijli.razorpay.refund(checkout.payment.id, 10_000))
    await bijli.drain()

    assert f"{checkout.payment.id} में से" in console_text(bijli)
    assert "वापस (रिफ़ंड) कर दिए गए हैं" in console_text(bijli)


async def test_staff_see_refunds_with_their_account_and_payment(bijli: BijliApp):
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DUE_SOON)
    await deliver(bijli, events)
    [processed, _] = bijli.razorpay.refund(payment_id, 10_000)
    await deliver(bijli, [processed])

    anonymous = await bijli.client.get("/ops/refunds")
    response = await bijli.client.get(
        "/ops/refunds", headers={"Authorization": f"Bearer {OPS_TOKEN}"})

    assert anonymous.status_code == 401
    assert response.status_code == 200
    [row] = response.json()
    assert row | {"refunded_at": None, "received_at": None} == {
        "refund_id": entity(processed.json(), "refund")["id"], "source": "razorpay",
        "consumer_no": consumer_no, "payment_reference": payment_id,
        "payment_amount_paise": demo_owed(DUE_SOON), "amount_paise": 10_000,
        "refunded_at": None, "received_at": None}


async def test_a_refund_issued_through_the_razorpay_sdk_reaches_the_books(
        bijli: BijliApp, razorpay_server: RazorpayServer):
    """The sandbox speaks Razorpay's refund API, so the real SDK can issue one (as staff
    would from the dashboard); its webhooks are then delivered as Razorpay would."""
    consumer_no, payment_id, events = await paid_by_own_chat(bijli, DUE_SOON)
    await deliver(bijli, events)
    client = razorpay.Client(auth=(razorpay_server.key_id, razorpay_server.key_secret),
                             base_url=razorpay_server.api_base_url)

    refund = await asyncio.to_thread(client.payment.refund, payment_id, {"amount": 5_000})
    refund_events = [e for e in bijli.razorpay.events if e.event in (
        "refund.processed", "payment.refunded")]
    await deliver(bijli, refund_events)

    assert (refund["payment_id"], refund["amount"]) == (payment_id, 5_000)
    assert await refund_debits(bijli, consumer_no) == [5_000]
