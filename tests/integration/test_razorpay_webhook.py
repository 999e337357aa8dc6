"""Use case: Razorpay tells Bijli about payments, and the ledger ends right whatever it sends.

The whole app runs in-process; links are made by the dialog through the real razorpay SDK
against the sandbox on a socket; the sandbox's checkout produces the exact webhook bodies
Razorpay sends (`payment.captured`, `order.paid`, `payment_link.paid` — three event ids for
one payment id), and they are posted signed to `/webhooks/razorpay`. Hand-made bodies are
built from the sandbox's and signed the same way.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from discom.money import format_inr
from discom.payments.sandbox import DeliveryMode, WebhookEvent
from discom.payments.signing import sign
from tests.fakes.bijli_app import BijliApp, demo_no
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
    links_of,
    payment_credits,
)


def by_name(events: list[WebhookEvent]) -> dict[str, WebhookEvent]:
    return {event.event: event for event in events}


async def deliver(bijli: BijliApp, events: list[WebhookEvent]) -> list[dict[str, Any]]:
    answers = []
    for event in events:
        response = await bijli.post_razorpay(event.body, event.id)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


# --- one payment, several events, any number of deliveries ---------------------------------

async def test_a_paid_link_is_credited_once_though_three_events_report_the_payment(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)

    events = await bijli.pay(payer.link_url)

    assert sorted(e.event for e in events) == ["order.paid", "payment.captured",
                                               "payment_link.paid"]
    assert len({entity(e.json(), "payment")["id"] for e in events}) == 1
    assert len({e.id for e in events}) == 3
    [payment] = await bijli.payments(consumer_no)
    assert (payment.source, payment.amount_paise) == ("razorpay", DISCONNECTED_TOTAL)
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert (await dues_of(bijli, consumer_no)).total == 0
    [link] = await links_of(bijli, consumer_no)
    assert (link.status, link.amount_paid_paise) == ("paid", DISCONNECTED_TOTAL)
    assert len(await bijli.orders(consumer_no)) == 1


async def test_the_same_event_delivered_twice_is_applied_once(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    paid = by_name(bijli.razorpay.pay(payer.link_id).events)["payment_link.paid"]

    first, second = await deliver(bijli, [paid, paid])

    assert (first["status"], second["status"]) == ("applied", "duplicate")
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert (await counts(bijli))["inbound_events"] == 1


async def test_twenty_identical_deliveries_at_once_give_one_credit_one_order_one_hes_command(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    paid = by_name(bijli.razorpay.pay(payer.link_id).events)["payment_link.paid"]

    responses = await asyncio.gather(
        *(bijli.post_razorpay(paid.body, paid.id) for _ in range(20)))

    assert [r.status_code for r in responses] == [200] * 20
    assert sorted(r.json()["status"] for r in responses) == ["applied"] + ["duplicate"] * 19
    assert len(await bijli.payments(consumer_no)) == 1
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    [order] = await bijli.orders(consumer_no)
    await bijli.drain()
    assert len(bijli.services.simulator.commands) == 1
    [order] = await bijli.orders(consumer_no)
    assert order.status == "confirmed"
    kinds = [m.kind for m in await bijli.messages("payer")]
    assert kinds == ["payment_received", "reconnection_started", "supply_restored"]


async def test_every_event_of_a_payment_delivered_many_times_at_once_credits_once(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    events = bijli.razorpay.pay(payer.link_id).events

    responses = await asyncio.gather(
        *(bijli.post_razorpay(e.body, e.id) for e in events * 7))

    assert {r.status_code for r in responses} == {200}
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert len(await bijli.orders(consumer_no)) == 1
    await bijli.drain()
    assert len(bijli.services.simulator.commands) == 1


@pytest.mark.parametrize("order", list(itertools.permutations(
    ["payment.captured", "order.paid", "payment_link.paid"])), ids="→".join)
async def test_the_events_of_a_payment_in_any_order_end_with_the_same_books(
        bijli: BijliApp, order: tuple[str, ...]):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    events = by_name(bijli.razorpay.pay(payer.link_id).events)

    answers = await deliver(bijli, [events[name] for name in order])

    assert [a["status"] for a in answers] == ["applied", "duplicate", "duplicate"]
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert (await dues_of(bijli, consumer_no)).total == 0
    [link] = await links_of(bijli, consumer_no)
    assert (link.status, link.amount_paid_paise) == ("paid", DISCONNECTED_TOTAL)
    assert len(await bijli.orders(consumer_no)) == 1


async def test_shuffled_and_repeated_delivery_by_the_sandbox_ends_with_the_same_books(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)

    await bijli.pay(payer.link_url, mode=DeliveryMode(shuffle=True, twice=True))
    await bijli.drain()

    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert [o.status for o in await bijli.orders(consumer_no)] == ["confirmed"]
    assert len(bijli.services.simulator.commands) == 1


async def test_a_late_expired_event_leaves_a_paid_link_paid(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    events = await bijli.pay(payer.link_url)
    paid = by_name(events)["payment_link.paid"]

    def expire(document: dict[str, Any]) -> None:
        document["event"] = "payment_link.expired"
        document["contains"] = ["payment_link"]
        link = entity(document, "payment_link")
        link.update(status="expired", expired_at=link["updated_at"] + 86_400)
        document["payload"] = {"payment_link": {"entity": link}}

    response = await bijli.post_razorpay(edited(paid, expire), "lateExpiry0001")

    assert response.status_code == 200
    [link] = await links_of(bijli, consumer_no)
    assert link.status == "paid"
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]


async def test_an_expired_link_is_not_offered_again(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    [expired] = bijli.razorpay.expire(payer.link_id)

    await deliver(bijli, [expired])
    again = await payer.chat.send(f"/pay {consumer_no}")

    first, second = await links_of(bijli, consumer_no)
    assert (first.status, second.status) == ("expired", "created")
    assert second.short_url in again and payer.link_url not in again


async def test_a_payment_reported_after_its_link_expired_is_still_credited(bijli: BijliApp):
    """Razorpay does not promise order: the link's `expired` can overtake its `paid`."""
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    events = by_name(bijli.razorpay.pay(payer.link_id).events)

    def expire(document: dict[str, Any]) -> None:
        document["event"], document["contains"] = "payment_link.expired", ["payment_link"]
        link = entity(document, "payment_link")
        link.update(status="expired", amount_paid=0)
        document["payload"] = {"payment_link": {"entity": link}}

    await bijli.post_razorpay(edited(events["payment_link.paid"], expire), "earlyExpiry001")
    await deliver(bijli, list(events.values()))

    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    [link] = await links_of(bijli, consumer_no)
    assert link.status == "paid"
    assert len(await bijli.orders(consumer_no)) == 1


async def test_a_cancelled_link_is_not_offered_again(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    _, [cancelled] = bijli.razorpay.cancel_link(payer.link_id)

    await deliver(bijli, [cancelled])
    again = await payer.chat.send(f"/pay {consumer_no}")

    first, second = await links_of(bijli, consumer_no)
    assert (first.status, second.status) == ("cancelled", "created")
    assert second.short_url in again and payer.link_url not in again


# --- what is refused: authentication, malformed bodies, size --------------------------------

def _headers(body: bytes, signature: str | None) -> dict[str, str]:
    headers = {"x-razorpay-event-id": "evtRefused0001", "Content-Type": "application/json"}
    if signature is not None:
        headers["X-Razorpay-Signature"] = signature
    return headers


@pytest.mark.parametrize("how", ["wrong", "missing", "empty", "api-secret", "other-body",
                                 "truncated"])
async def test_a_bad_or_missing_signature_is_refused_with_400_and_nothing_is_written(
        bijli: BijliApp, how: str):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    paid = by_name(bijli.razorpay.pay(payer.link_id).events)["payment_link.paid"]
    webhook_secret = bijli.services.settings.razorpay_webhook_secret.get_secret_value()
    good = sign(paid.body, webhook_secret)
    signature = {
        "wrong": "0" * 64, "missing": None, "empty": "",
        "api-secret": sign(paid.body, bijli.services.settings.razorpay_key_secret
                           .get_secret_value()),
        "other-body": sign(paid.body + b" ", webhook_secret),
        "truncated": good[:-2],
    }[how]
    before = await counts(bijli)

    response = await bijli.client.post("/webhooks/razorpay", content=paid.body,
                                       headers=_headers(paid.body, signature))

    assert response.status_code == 400
    assert await counts(bijli) == before
    assert await payment_credits(bijli, consumer_no) == []


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"\xff\xfe\x00", b"[1, 2]", b'"payment_link.paid"', b"null", b"{}",
    b'{"event": 7, "payload": {}}', b'{"event": "payment_link.paid"}',
    b'{"event": "payment_link.paid", "payload": []}',
], ids=["not-json", "empty", "not-utf8", "array", "string", "null", "empty-object",
        "event-not-text", "no-payload", "payload-not-object"])
async def test_a_signed_body_that_is_not_a_razorpay_event_is_refused_with_400(
        bijli: BijliApp, body: bytes):
    """Signed but unreadable: 400 and nothing written. Razorpay only sends well-formed events,
    so this is a misconfigured sender; a 4xx makes it visible in the dashboard's log."""
    before = await counts(bijli)

    response = await bijli.post_razorpay(body, "evtMalformed01")

    assert response.status_code == 400
    assert await counts(bijli) == before


async def test_an_event_bijli_does_not_handle_is_acknowledged_and_changes_nothing(
        bijli: BijliApp):
    """An event type Bijli does not use (a subscription, a dispute) answers 200 "ignored": a
    4xx would make Razorpay retry it for a day and then disable the whole webhook."""
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    captured = by_name(bijli.razorpay.pay(payer.link_id).events)["payment.captured"]

    def subscription(document: dict[str, Any]) -> None:
        document["event"] = "subscription.charged"

    response = await bijli.post_razorpay(edited(captured, subscription), "evtSubscribed1")

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert await payment_credits(bijli, consumer_no) == []
    assert await bijli.orders(consumer_no) == []


@pytest.mark.parametrize("product_type", [None, "invoice"])
async def test_an_order_paid_for_an_order_that_is_no_link_of_bijlis_is_acknowledged(
        bijli: BijliApp, product_type: str | None):
    """The account may take payments Bijli did not ask for (standard checkout orders, whose
    `product_type` is null, or invoices): they are acknowledged and credited to no one —
    never a 500 that Razorpay would retry for a day and then disable the webhook for."""
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    order_paid = by_name(bijli.razorpay.pay(payer.link_id).events)["order.paid"]

    def not_a_link(document: dict[str, Any]) -> None:
        order, payment = entity(document, "order"), entity(document, "payment")
        order.update(product_type=product_type, product_id=None, receipt="rcpt-77")
        payment["description"] = None

    response = await bijli.post_razorpay(edited(order_paid, not_a_link), "evtOtherOrder1")

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert (await counts(bijli))["payments"] == 0


async def test_a_body_over_the_size_limit_is_refused_with_413_and_nothing_is_written(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    paid = by_name(bijli.razorpay.pay(payer.link_id).events)["payment_link.paid"]

    def pad(document: dict[str, Any]) -> None:
        entity(document, "payment")["notes"] = {"padding": "x" * 300_000}

    before = await counts(bijli)
    response = await bijli.post_razorpay(edited(paid, pad), "evtOversize001")

    assert response.status_code == 413
    assert await counts(bijli) == before


async def test_a_body_over_the_size_limit_without_a_length_header_is_refused_with_413(
        bijli: BijliApp):
    body = b'{"event": "payment_link.paid", "payload": {}, "pad": "' + b"x" * 300_000 + b'"}'
    secret = bijli.services.settings.razorpay_webhook_secret.get_secret_value()

    async def chunks():
        for start in range(0, len(body), 16_384):
            yield body[start:start + 16_384]

    before = await counts(bijli)
    response = await bijli.client.post("/webhooks/razorpay", content=chunks(), headers={
        "X-Razorpay-Signature": sign(body, secret), "x-razorpay-event-id": "evtChunked0001"})

    assert response.status_code == 413
    assert await counts(bijli) == before


# --- notes: null, [] or an object -----------------------------------------------------------

def _set_notes(value: Any):
    def change(document: dict[str, Any]) -> None:
        for name in document["payload"]:
            entity(document, name)["notes"] = value
    return change


@pytest.mark.parametrize("notes", [None, [], {"consumer_no": "ignored-here", "x": "y"}],
                         ids=["null", "empty-list", "object"])
async def test_notes_as_null_empty_list_or_object_are_all_read(bijli: BijliApp, notes: Any):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    events = bijli.razorpay.pay(payer.link_id).events

    for event in events:
        response = await bijli.post_razorpay(edited(event, _set_notes(notes)), event.id)
        assert response.status_code == 200, response.text

    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]


def _forget_link(document: dict[str, Any]) -> None:
    """As if the link had been made outside Bijli (the dashboard): no id Bijli knows."""
    for name in document["payload"]:
        found = entity(document, name)
        if name == "payment_link":
            found["id"], found["reference_id"] = "plink_MadeElsewhere1", "dashboard-1"
        elif name == "order":
            found["product_id"], found["receipt"] = "MadeElsewhere1", "dashboard-1"
        else:
            found["description"] = "#MadeElsewhere1"


async def test_a_payment_on_a_link_bijli_made_but_lost_is_credited_by_its_reference(
        bijli: BijliApp):
    """Bijli's reference id names the consumer (`BJ<consumer no>-<random>`): a payment on a
    link whose row was lost (a crash between Razorpay's answer and the commit) is theirs."""
    consumer_no = demo_no(DUE_SOON)
    payer = await ask_for_link(bijli, consumer_no)
    paid = by_name(bijli.razorpay.pay(payer.link_id).events)["payment_link.paid"]

    def lost(document: dict[str, Any]) -> None:
        _forget_link(document)
        _set_notes(None)(document)
        entity(document, "payment_link")["reference_id"] = f"BJ{consumer_no}-0123456789ab"

    response = await bijli.post_razorpay(edited(paid, lost), "evtLostLink001")

    assert (response.status_code, response.json()["status"]) == (200, "applied")
    assert await payment_credits(bijli, consumer_no) == [demo_owed(DUE_SOON)]


@pytest.mark.parametrize("notes", [None, [], {"purpose": "something else"}],
                         ids=["null", "empty-list", "object-without-consumer"])
async def test_a_payment_nobody_can_be_found_for_is_acknowledged_but_credited_to_no_one(
        bijli: BijliApp, notes: Any):
    consumer_no = demo_no(DUE_SOON)
    payer = await ask_for_link(bijli, consumer_no)
    paid = by_name(bijli.razorpay.pay(payer.link_id).events)["payment_link.paid"]

    def unattributable(document: dict[str, Any]) -> None:
        _forget_link(document)
        _set_notes(notes)(document)

    response = await bijli.post_razorpay(edited(paid, unattributable), "evtNobody00001")

    assert (response.status_code, response.json()["status"]) == (200, "ignored")
    assert (await counts(bijli))["payments"] == 0


# --- partial payment, overpayment, failure --------------------------------------------------

async def test_a_partial_payment_is_credited_without_reconnection_and_a_new_link_asks_for_the_rest(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await link_chat_to(bijli, "payer", consumer_no)  # the holder: told of it all
    payer = await ask_for_link(bijli, consumer_no)
    # Bijli's links do not accept part payments; a link made on the dashboard with
    # accept_partial might, and the events it causes are these.
    sandbox_link = bijli.razorpay.link(payer.link_id)
    sandbox_link.accept_partial, sandbox_link.first_min_partial_amount = True, 100

    events = await bijli.pay(payer.link_url, amount_paise=100_000)
    await bijli.drain()

    assert sorted(e.event for e in events) == ["payment.captured", "payment_link.partially_paid"]
    assert await payment_credits(bijli, consumer_no) == [100_000]
    remaining = DISCONNECTED_TOTAL - 100_000
    assert (await dues_of(bijli, consumer_no)).total == remaining
    assert await bijli.orders(consumer_no) == []
    assert bijli.services.simulator.commands == []
    old, new = await links_of(bijli, consumer_no)
    assert (old.status, old.amount_paid_paise) == ("partially_paid", 100_000)
    assert (new.status, new.amount_paise) == ("created", remaining)
    assert bijli.razorpay.link(new.provider_link_id).amount == remaining
    told = console_text(bijli)
    assert f"{format_inr(remaining)} is still due" in told
    assert new.short_url in told and old.short_url not in told
    assert [m.kind for m in await bijli.messages("payer")] == [
        "payment_received", "payment_partial"]


async def test_paying_the_rest_on_the_new_link_reconnects(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await link_chat_to(bijli, "payer", consumer_no)  # the holder: told of it all
    payer = await ask_for_link(bijli, consumer_no)
    sandbox_link = bijli.razorpay.link(payer.link_id)
    sandbox_link.accept_partial, sandbox_link.first_min_partial_amount = True, 100
    await bijli.pay(payer.link_url, amount_paise=100_000)
    await bijli.drain()
    _, new = await links_of(bijli, consumer_no)

    await bijli.pay(new.short_url)
    await bijli.drain()

    assert await payment_credits(bijli, consumer_no) == [100_000, DISCONNECTED_TOTAL - 100_000]
    assert [o.status for o in await bijli.orders(consumer_no)] == ["confirmed"]
    assert len(bijli.services.simulator.commands) == 1
    assert "Supply restored" in console_text(bijli)


async def test_an_overpayment_is_kept_as_advance_credit_shown_in_dues_and_told(bijli: BijliApp):
    consumer_no = demo_no(DUE_SOON)
    owed = demo_owed(DUE_SOON)
    await link_chat_to(bijli, "payer", consumer_no)  # the holder: told of it all
    payer = await ask_for_link(bijli, consumer_no)
    # A cash counter takes ₹500 while the consumer pays the whole link online.
    assert (await bijli.post_ops_payment(consumer_no, 50_000, "R-500")).status_code == 201

    await bijli.pay(payer.link_url)
    await bijli.drain()

    assert sorted(await payment_credits(bijli, consumer_no)) == sorted([50_000, owed])
    dues = await dues_of(bijli, consumer_no)
    assert (dues.total, dues.advance) == (0, 50_000)
    assert f"You have paid {format_inr(50_000)} more than your dues" in console_text(bijli)
    shown = await payer.chat.send(f"/dues {consumer_no}")
    assert f"Advance credit: {format_inr(50_000)}" in shown
    assert "Nothing to pay" in shown


async def test_a_failed_payment_is_told_and_nothing_is_credited(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    captured = by_name(bijli.razorpay.pay(payer.link_id).events)["payment.captured"]

    def failed(document: dict[str, Any]) -> None:
        document["event"] = "payment.failed"
        payment = entity(document, "payment")
        payment.update(status="failed", captured=False, fee=None, tax=None,
                       error_code="BAD_REQUEST_ERROR", error_reason="payment_failed",
                       error_description="Payment failed because the UPI PIN was wrong",
                       id="pay_FailedAttempt01")

    response = await bijli.post_razorpay(edited(captured, failed), "evtFailed00001")
    await bijli.drain()

    assert response.status_code == 200
    assert await payment_credits(bijli, consumer_no) == []
    assert (await counts(bijli))["payments"] == 0
    assert await bijli.orders(consumer_no) == []
    assert [m.kind for m in await bijli.messages("payer")] == ["payment_failed"]
    assert "Your payment did not go through" in console_text(bijli)
    [link] = await links_of(bijli, consumer_no)
    assert link.status == "created"

