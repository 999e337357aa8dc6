"""Regression (issue 10, Medium 5): a signed Razorpay event is credited only when its values
are a rupee payment on one of Bijli's links.

On the main branch before the fix, a signed `payment.captured` in USD was credited as rupees
and reconnected the meter, `"amount": true` was credited as 1 paisa, a `created_at` of 10^20
was a 500 (Razorpay redelivers for a day, then disables the webhook), and any payment whose
notes carried a consumer number was credited. Each bad shape here must answer 200 "refused"
(or "ignored" for a payment that is not Bijli's), write nothing at all, count a metric, and
leave the meter alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.fakes.bijli_app import BijliApp, demo_no
from tests.payment_steps import (
    DISCONNECTED,
    DISCONNECTED_TOTAL,
    ask_for_link,
    counts,
    dues_of,
    edited,
    entity,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    payment_credits,
)

Change = Callable[[dict[str, Any]], None]


def _payment(**values: Any) -> Change:
    def change(document: dict[str, Any]) -> None:
        entity(document, "payment").update(values)
    return change


def _every_entity(**values: Any) -> Change:
    def change(document: dict[str, Any]) -> None:
        for name in document["payload"]:
            if "currency" in entity(document, name):
                entity(document, name).update(values)
    return change


BAD_SHAPES: dict[str, Change] = {
    "usd": _every_entity(currency="USD"),
    "usd-payment-only": _payment(currency="USD"),
    "currency-missing": _payment(currency=None),
    "amount-bool": _payment(amount=True),
    "amount-float": _payment(amount=float(DISCONNECTED_TOTAL)),
    "amount-string": _payment(amount=str(DISCONNECTED_TOTAL)),
    "amount-rupees-string": _payment(amount="2870.00"),
    "amount-negative": _payment(amount=-DISCONNECTED_TOTAL),
    "amount-zero": _payment(amount=0),
    "amount-10e30": _payment(amount=10**30),
    "created-at-10e20": _payment(created_at=10**20),
    "created-at-string": _payment(created_at="1749618371"),
    "created-at-bool": _payment(created_at=True),
    "payment-id-not-razorpays": _payment(id="pay_x'; DROP TABLE payments;--"),
}


def refused_count(reason: str | None = None) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name != "bijli_razorpay_events_refused":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and reason in (None, sample.labels["reason"]):
                total += sample.value
    return total


async def _paid_event(bijli: BijliApp, name: str = "payment_link.paid"):
    payer = await ask_for_link(bijli, demo_no(DISCONNECTED))
    events = {e.event: e for e in bijli.razorpay.pay(payer.link_id).events}
    return events[name]


@pytest.mark.parametrize("event_name", ["payment_link.paid", "payment.captured", "order.paid"])
@pytest.mark.parametrize("shape", list(BAD_SHAPES))
async def test_a_signed_event_with_bad_values_is_refused_and_writes_nothing(
        bijli: BijliApp, shape: str, event_name: str):
    event = await _paid_event(bijli, event_name)
    before, refused_before = await counts(bijli), refused_count()

    response = await bijli.post_razorpay(edited(event, BAD_SHAPES[shape]), event.id)
    await bijli.drain()

    assert (response.status_code, response.json()) == (200, {"status": "refused"})
    assert await counts(bijli) == before
    assert await payment_credits(bijli, demo_no(DISCONNECTED)) == []
    assert (await dues_of(bijli, demo_no(DISCONNECTED))).total == DISCONNECTED_TOTAL
    assert bijli.services.simulator.commands == []
    assert refused_count() == refused_before + 1


async def test_a_refused_event_leaves_no_trace_so_the_genuine_delivery_is_still_credited(
        bijli: BijliApp):
    """Nothing written means not even the event id: Razorpay's own redelivery (same id,
    genuine body) is applied, not taken for a duplicate."""
    event = await _paid_event(bijli)
    await bijli.post_razorpay(edited(event, _payment(currency="USD")), event.id)

    response = await bijli.post_razorpay(event.body, event.id)

    assert response.json() == {"status": "applied"}
    assert await payment_credits(bijli, demo_no(DISCONNECTED)) == [DISCONNECTED_TOTAL]


def _other_product(notes: Any) -> Change:
    """A payment Razorpay took for something other than a Bijli link: a dashboard link or a
    standard-checkout order, whose notes name a consumer."""
    def change(document: dict[str, Any]) -> None:
        for name in document["payload"]:
            found = entity(document, name)
            found["notes"] = notes
            if name == "payment_link":
                found["id"], found["reference_id"] = "plink_Dashboard00001", "new-connection-77"
            elif name == "order":
                found.update(product_type=None, product_id=None, receipt="new-connection-77")
            else:
                found["description"] = "New connection fee"
    return change


@pytest.mark.parametrize("event_name", ["payment_link.paid", "payment.captured", "order.paid"])
async def test_a_payment_for_another_razorpay_product_is_not_credited_though_notes_name_a_consumer(
        bijli: BijliApp, event_name: str):
    event = await _paid_event(bijli, event_name)
    other = _other_product({"consumer_no": demo_no(DISCONNECTED)})

    response = await bijli.post_razorpay(edited(event, other), event.id)
    await bijli.drain()

    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert (await counts(bijli))["payments"] == 0
    assert bijli.services.simulator.commands == []


@pytest.mark.parametrize("reference", ["BJ1000000001", "XJ1000000001-0123456789ab",
                                       "BJ1000000001-0123456789ab-x"])
async def test_a_reference_not_of_bijlis_shape_names_no_one(bijli: BijliApp, reference: str):
    event = await _paid_event(bijli)
    other = _other_product(None)

    def almost(document: dict[str, Any]) -> None:
        other(document)
        entity(document, "payment_link")["reference_id"] = reference

    response = await bijli.post_razorpay(edited(event, almost), event.id)

    assert response.json() == {"status": "ignored"}
    assert (await counts(bijli))["payments"] == 0


@pytest.mark.parametrize("odd", [[None], {"x": 1}, 7, "x" * 5000], ids=["list", "dict", "int",
                                                                       "long"])
async def test_odd_types_where_razorpay_puts_strings_are_acknowledged_never_a_500(
        bijli: BijliApp, odd: Any):
    """Found by the HTTP fuzzer: `"receipt": [null]` reached a query as a list (500)."""
    event = await _paid_event(bijli, "order.paid")

    def oddly(document: dict[str, Any]) -> None:
        entity(document, "order").update(receipt=odd, product_id=odd, product_type=odd)
        entity(document, "payment")["description"] = odd
        document["payload"]["payment_link"] = {"entity": {"id": odd, "status": odd}}

    response = await bijli.post_razorpay(edited(event, oddly), event.id)

    assert response.status_code == 200
    assert (await counts(bijli))["payments"] == 0
