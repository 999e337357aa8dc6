"""Privacy finding: `/ops/payments` records who posted each payment, caps an ops payment at
OPS_PAYMENT_MAX_PAISE and refuses a payment dated in the future. Refusals write nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from discom.clock import utcnow
from tests.fakes.bijli_app import OPS_TOKEN, BijliApp, demo_no
from tests.payment_steps import (
    DISCONNECTED,
    counts,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
)

TOKEN = {"Authorization": f"Bearer {OPS_TOKEN}"}


def payment(**changes: Any) -> dict[str, Any]:
    return {"source": "cash", "reference": "CC-2026-000777", "amount_paise": 10_000,
            "consumer_no": demo_no(DISCONNECTED), "paid_at": "2026-11-27T10:02:11+05:30"
            } | changes


async def test_the_operator_who_posted_a_payment_is_stored_with_it(bijli: BijliApp):
    response = await bijli.client.post("/ops/payments", json=payment(),
                                       headers={**TOKEN, "X-Operator": "counter-7.indore"})

    assert response.status_code == 201, response.text
    [stored] = await bijli.payments(demo_no(DISCONNECTED))
    assert stored.posted_by == "counter-7.indore"


@pytest.mark.parametrize("operator", [None, "", "two words", "x" * 65, "naïve".encode()],
                         ids=["missing", "empty", "spaces", "too-long", "non-ascii"])
async def test_a_payment_without_a_proper_operator_is_refused_and_nothing_is_written(
        bijli: BijliApp, operator: str | bytes | None):
    before = await counts(bijli)
    headers = TOKEN if operator is None else {**TOKEN, "X-Operator": operator}

    response = await bijli.client.post("/ops/payments", json=payment(), headers=headers)

    assert response.status_code == 422
    assert await counts(bijli) == before


async def test_a_payment_over_the_configured_maximum_is_refused(bijli: BijliApp):
    before = await counts(bijli)
    cap = bijli.services.settings.ops_payment_max_paise

    response = await bijli.client.post("/ops/payments", json=payment(amount_paise=cap + 1),
                                       headers={**TOKEN, "X-Operator": "counter-7"})

    assert response.status_code == 422
    assert "OPS_PAYMENT_MAX_PAISE" in response.text
    assert await counts(bijli) == before


async def test_a_payment_at_the_configured_maximum_is_credited(bijli: BijliApp):
    cap = bijli.services.settings.ops_payment_max_paise

    response = await bijli.client.post("/ops/payments", json=payment(amount_paise=cap),
                                       headers={**TOKEN, "X-Operator": "counter-7"})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("ahead", [timedelta(hours=1), timedelta(days=365 * 70)],
                         ids=["an-hour-ahead", "in-2096"])
async def test_a_payment_dated_in_the_future_is_refused(bijli: BijliApp, ahead: timedelta):
    before = await counts(bijli)

    response = await bijli.client.post(
        "/ops/payments", json=payment(paid_at=(utcnow() + ahead).isoformat()),
        headers={**TOKEN, "X-Operator": "counter-7"})

    assert response.status_code == 422
    assert "future" in response.text
    assert await counts(bijli) == before


async def test_a_counter_clock_a_minute_ahead_is_not_the_future(bijli: BijliApp):
    response = await bijli.client.post(
        "/ops/payments", json=payment(paid_at=(utcnow() + timedelta(minutes=1)).isoformat()),
        headers={**TOKEN, "X-Operator": "counter-7"})

    assert response.status_code == 201, response.text
