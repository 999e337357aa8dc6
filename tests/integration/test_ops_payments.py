"""Use case: the billing system, BBPS or a cash counter posts a payment to `POST /ops/payments`.

Such a payment takes the same path as a Razorpay one: credited once by its own reference,
and a payment that clears the dues of a meter cut for non-payment reconnects it. Anything
refused (authentication, validation) is a 4xx that writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from discom.demo import seed
from discom.money import format_inr
from tests.fakes.bijli_app import OPS_TOKEN, BijliApp, demo_no, test_settings
from tests.payment_steps import (
    DISCONNECTED,
    DISCONNECTED_TOTAL,
    DUE_SOON,
    MANUAL,
    ask_for_link,
    console_text,
    counts,
    demo_owed,
    dues_of,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_chat_to,
    links_of,
    payment_credits,
)

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}", "X-Operator": "counter-7"}


def payment(consumer_no: str, **changes: Any) -> dict[str, Any]:
    return {"source": "cash", "reference": "CC-2026-000123", "consumer_no": consumer_no,
            "amount_paise": DISCONNECTED_TOTAL, "paid_at": "2026-11-27T10:02:11+05:30"
            } | changes


# --- a payment that clears the dues ---------------------------------------------------------

async def test_a_cash_payment_that_clears_the_dues_reconnects_and_tells_the_consumer(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await link_chat_to(bijli, "owner", consumer_no)

    response = await bijli.client.post("/ops/payments", json=payment(consumer_no), headers=AUTH)

    assert response.status_code == 201
    answer = response.json()
    assert answer["status"] == "credited"
    assert answer["total_due_paise"] == 0
    [order] = await bijli.orders(consumer_no)
    assert answer["reconnection_orders"] == [order.id]
    await bijli.drain()
    assert len(bijli.services.simulator.commands) == 1
    [order] = await bijli.orders(consumer_no)
    assert order.status == "confirmed"
    assert [m.kind for m in await bijli.messages("owner")] == [
        "payment_received", "reconnection_started", "supply_restored"]
    told = console_text(bijli)
    assert f"Payment of {format_inr(DISCONNECTED_TOTAL)} received" in told
    assert "Receipt: CC-2026-000123" in told
    assert "Supply restored" in told


async def test_the_same_source_and_reference_again_is_a_duplicate_and_nothing_is_doubled(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    first = await bijli.client.post("/ops/payments", json=payment(consumer_no), headers=AUTH)
    after_first = await counts(bijli)

    again = await bijli.client.post("/ops/payments", json=payment(consumer_no), headers=AUTH)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "duplicate"
    assert await counts(bijli) == after_first
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    await bijli.drain()
    assert len(bijli.services.simulator.commands) == 1


@pytest.mark.parametrize("change", [{"amount_paise": 100_000}, {"consumer_no": "1000000002"}],
                         ids=["other-amount", "other-consumer"])
async def test_the_same_reference_for_a_different_payment_is_refused_as_a_conflict(
        bijli: BijliApp, change: dict[str, Any]):
    """A repeat must be the same payment: a reference reused for another amount or account
    is a mistake at the counter or in the billing system, and answering "duplicate" would
    tell it the second payment was credited when it was not."""
    consumer_no = demo_no(DISCONNECTED)
    first = await bijli.client.post("/ops/payments", json=payment(consumer_no), headers=AUTH)
    after_first = await counts(bijli)

    other = await bijli.client.post("/ops/payments", json=payment(consumer_no) | change,
                                    headers=AUTH)

    assert (first.status_code, other.status_code) == (201, 409)
    assert await counts(bijli) == after_first
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]


async def test_the_same_payment_posted_many_times_at_once_is_credited_once(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)

    responses = await asyncio.gather(*(
        bijli.client.post("/ops/payments", json=payment(consumer_no), headers=AUTH)
        for _ in range(10)))

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert len(await bijli.orders(consumer_no)) == 1
    await bijli.drain()
    assert len(bijli.services.simulator.commands) == 1


async def test_a_cash_payment_and_an_online_payment_at_the_same_moment_make_one_order(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    events = bijli.razorpay.pay(payer.link_id).events

    answers = await asyncio.gather(
        bijli.client.post("/ops/payments", json=payment(consumer_no), headers=AUTH),
        *(bijli.post_razorpay(event.body, event.id) for event in events))
    await bijli.drain()

    assert [a.status_code for a in answers] == [201, 200, 200, 200]
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL] * 2
    dues = await dues_of(bijli, consumer_no)
    assert (dues.total, dues.advance) == (0, DISCONNECTED_TOTAL)
    assert [o.status for o in await bijli.orders(consumer_no)] == ["confirmed"]
    assert len(bijli.services.simulator.commands) == 1


async def test_the_same_reference_from_another_source_is_another_payment(bijli: BijliApp):
    consumer_no = demo_no(DUE_SOON)
    body = payment(consumer_no, amount_paise=10_000, reference="RCPT-42")

    cash = await bijli.client.post("/ops/payments", json=body, headers=AUTH)
    bbps = await bijli.client.post("/ops/payments", json={**body, "source": "bbps"},
                                   headers=AUTH)

    assert (cash.status_code, bbps.status_code) == (201, 201)
    assert await payment_credits(bijli, consumer_no) == [10_000, 10_000]
    assert sorted(p.source for p in await bijli.payments(consumer_no)) == ["bbps", "cash"]


async def test_a_part_payment_is_credited_without_reconnection(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)

    response = await bijli.client.post(
        "/ops/payments", json=payment(consumer_no, amount_paise=100_000), headers=AUTH)

    assert response.status_code == 201
    assert response.json()["total_due_paise"] == DISCONNECTED_TOTAL - 100_000
    assert response.json()["reconnection_orders"] == []
    assert await bijli.orders(consumer_no) == []
    await bijli.drain()
    assert bijli.services.simulator.commands == []


async def test_a_part_payment_tells_the_consumer_what_remains_with_a_link_for_it(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await link_chat_to(bijli, "owner", consumer_no)

    await bijli.client.post("/ops/payments", json=payment(consumer_no, amount_paise=100_000),
                            headers=AUTH)
    await bijli.drain()

    remaining = DISCONNECTED_TOTAL - 100_000
    [link] = await links_of(bijli, consumer_no)
    assert (link.amount_paise, link.status) == (remaining, "created")
    told = console_text(bijli)
    assert f"{format_inr(remaining)} is still due" in told
    assert f"Pay here: {link.short_url}" in told
    assert [m.status for m in await bijli.messages("owner")] == ["sent", "sent"]


async def test_a_part_payment_leaving_under_one_rupee_still_tells_the_consumer(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await link_chat_to(bijli, "owner", consumer_no)

    await bijli.client.post("/ops/payments", json=payment(
        consumer_no, amount_paise=DISCONNECTED_TOTAL - 50), headers=AUTH)
    await bijli.drain()

    assert [m.status for m in await bijli.messages("owner")] == ["sent", "sent"]
    assert f"{format_inr(50)} is still due" in console_text(bijli)


async def test_a_payment_to_a_meter_cut_by_staff_does_not_reconnect_it(bijli: BijliApp):
    consumer_no = demo_no(MANUAL)

    response = await bijli.client.post(
        "/ops/payments", json=payment(consumer_no, amount_paise=10_000), headers=AUTH)
    await bijli.drain()

    assert response.status_code == 201
    assert await bijli.orders(consumer_no) == []
    assert bijli.services.simulator.commands == []


async def test_an_overpayment_is_kept_as_advance_credit(bijli: BijliApp):
    consumer_no = demo_no(DUE_SOON)
    owed = demo_owed(DUE_SOON)

    response = await bijli.client.post(
        "/ops/payments", json=payment(consumer_no, amount_paise=owed + 12_345), headers=AUTH)

    assert response.status_code == 201
    dues = await dues_of(bijli, consumer_no)
    assert (dues.total, dues.advance) == (0, 12_345)


# --- refused: authentication ----------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {OPS_TOKEN}"},
    {"Authorization": OPS_TOKEN}, {"Authorization": "Bearer "},
    {"Authorization": f"Bearer {OPS_TOKEN}x"},
], ids=["missing", "wrong", "basic-scheme", "no-scheme", "empty-token", "longer-token"])
async def test_a_missing_or_wrong_bearer_token_is_refused_with_401_and_nothing_is_written(
        bijli: BijliApp, headers: dict[str, str]):
    before = await counts(bijli)

    response = await bijli.client.post("/ops/payments", json=payment(demo_no(DISCONNECTED)),
                                       headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert await counts(bijli) == before


@pytest.fixture
async def closed_ops(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with OPS_API_TOKEN unset."""
    settings = test_settings(database_url, ops_api_token=None)
    app = create_app(settings, run_worker=False)
    await seed(app.state.services.db)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bijli.test") as client:
        yield client


async def test_with_no_ops_token_configured_the_ops_api_is_closed_with_403(
        closed_ops: httpx.AsyncClient):
    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        response = await closed_ops.post("/ops/payments", json=payment(demo_no(DISCONNECTED)),
                                         headers=headers)
        assert response.status_code == 403
    assert (await closed_ops.get("/ops/reconnections", headers=AUTH)).status_code == 403


async def test_with_no_ops_token_configured_nothing_is_written(
        closed_ops: httpx.AsyncClient, bijli: BijliApp):
    # `bijli` shares the database (its `database_url`) and is only used to count.
    before = await counts(bijli)

    await closed_ops.post("/ops/payments", json=payment(demo_no(DISCONNECTED)), headers=AUTH)

    assert await counts(bijli) == before


# --- refused: validation --------------------------------------------------------------------

INVALID = {
    "unknown-consumer": {"consumer_no": "9999999999"},
    "malformed-consumer": {"consumer_no": "12 34!"},
    "zero": {"amount_paise": 0},
    "negative": {"amount_paise": -100},
    "float": {"amount_paise": 2870.5},
    "float-whole": {"amount_paise": 287000.0},
    "rupees-as-text": {"amount_paise": "2870.00"},
    "paise-as-text": {"amount_paise": "287000"},
    "boolean": {"amount_paise": True},
    "huge": {"amount_paise": 10**13},
    "beyond-bigint": {"amount_paise": 2**63},
    "naive-paid-at": {"paid_at": "2026-11-27T10:02:11"},
    "date-only-paid-at": {"paid_at": "2026-11-27"},
    "no-paid-at": {"paid_at": None},
    "long-reference": {"reference": "R" * 65},
    "empty-reference": {"reference": ""},
    "reference-with-spaces": {"reference": "CC 123"},
    "source-razorpay": {"source": "razorpay"},
    "source-uppercase": {"source": "Razorpay"},
    "source-empty": {"source": ""},
}


@pytest.mark.parametrize("change", INVALID.values(), ids=INVALID.keys())
async def test_an_invalid_payment_is_refused_with_422_and_nothing_is_written(
        bijli: BijliApp, change: dict[str, Any]):
    before = await counts(bijli)
    body = payment(demo_no(DISCONNECTED)) | change
    body = {name: value for name, value in body.items() if value is not None}

    response = await bijli.client.post("/ops/payments", json=body, headers=AUTH)

    assert response.status_code == 422, response.text
    assert await counts(bijli) == before
    await bijli.drain()
    assert bijli.services.simulator.commands == []


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"null", b""],
                         ids=["not-json", "array", "null", "empty"])
async def test_a_body_that_is_not_a_payment_object_is_refused_and_nothing_is_written(
        bijli: BijliApp, body: bytes):
    before = await counts(bijli)

    response = await bijli.client.post("/ops/payments", content=body, headers={
        **AUTH, "Content-Type": "application/json"})

    assert response.status_code == 422
    assert await counts(bijli) == before
