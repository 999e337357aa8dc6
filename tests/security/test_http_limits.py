"""Finding High 3: unauthenticated memory DoS through request bodies.

Every route has a body limit, counted as the bytes arrive (64 KB unless the route needs
more), and `/ops/payments` checks the bearer token before it reads a byte of the body.
Bodies are streamed through httpx in chunks; `Chunks` records how many the app pulled.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.fakes.bijli_app import OPS_TOKEN, BijliApp, demo_no
from tests.payment_steps import (
    DISCONNECTED,
    counts,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
)

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}", "X-Operator": "counter-7"}
KB = 1024


class Chunks:
    """A request body of `count` chunks of `size` bytes, sent without Content-Length."""

    def __init__(self, count: int, size: int = 16 * KB) -> None:
        self.count, self.size, self.pulled = count, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield b" " * self.size


# --- authentication before the body -----------------------------------------------------------

async def test_an_unauthenticated_ops_payment_is_refused_before_its_body_is_read(
        bijli: BijliApp):
    body = Chunks(count=3)

    response = await bijli.client.post("/ops/payments", content=body,
                                       headers={"Content-Type": "application/json"})

    assert response.status_code == 401
    assert body.pulled == 0


async def test_an_unauthenticated_ops_payment_declaring_200_mb_is_refused_unread(
        bijli: BijliApp):
    body = Chunks(count=3)

    response = await bijli.client.post("/ops/payments", content=body, headers={
        "Content-Type": "application/json", "Content-Length": str(200 * KB * KB)})

    assert response.status_code in (401, 413)
    assert body.pulled == 0


# --- the limit, declared and counted -----------------------------------------------------------

@pytest.mark.parametrize("path", ["/ops/payments", "/webhooks/hes", "/webhooks/razorpay",
                                  "/webhooks/twilio/whatsapp", "/nowhere"])
async def test_a_declared_length_over_the_limit_is_answered_413_before_reading(
        bijli: BijliApp, path: str):
    body = Chunks(count=2)

    response = await bijli.client.post(path, content=body, headers={
        **AUTH, "Content-Length": str(2 * KB * KB)})

    assert response.status_code == 413
    assert body.pulled == 0


async def test_a_chunked_body_is_cut_off_with_413_as_soon_as_it_passes_64_kb(bijli: BijliApp):
    before = await counts(bijli)
    body = Chunks(count=64)  # 1 MB in 16 KB chunks

    response = await bijli.client.post("/ops/payments", content=body, headers=AUTH)

    assert response.status_code == 413
    assert body.pulled <= 64 * KB // body.size + 1
    assert await counts(bijli) == before


async def test_a_chunked_webhook_body_over_its_limit_is_cut_off(bijli: BijliApp):
    body = Chunks(count=64)

    response = await bijli.client.post("/webhooks/hes", content=body)

    assert response.status_code == 413
    assert body.pulled <= 64 * KB // body.size + 1


async def test_the_razorpay_webhook_may_have_up_to_256_kb_but_not_more(bijli: BijliApp):
    within, beyond = Chunks(count=12), Chunks(count=20)  # 192 KB, 320 KB

    answered_within = await bijli.client.post("/webhooks/razorpay", content=within)
    answered_beyond = await bijli.client.post("/webhooks/razorpay", content=beyond)

    assert answered_within.status_code == 400  # read whole, then refused: no signature
    assert within.pulled == within.count
    assert answered_beyond.status_code == 413


async def test_a_payment_within_the_limit_is_still_credited(bijli: BijliApp):
    body = json.dumps({"source": "cash", "reference": "CC-1", "amount_paise": 10_000,
                       "consumer_no": demo_no(DISCONNECTED),
                       "paid_at": "2026-11-27T10:02:11+05:30"}).encode()

    async def in_pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start:start + 7]

    response = await bijli.client.post("/ops/payments", content=in_pieces(), headers=AUTH)

    assert response.status_code == 201, response.text
