"""The payment sandbox over HTTP: Razorpay's API shapes, the checkout page, signed webhooks.

The sandbox app and a stand-in for Bijli's webhook route talk through `httpx.ASGITransport`,
in-process; the webhook bodies are checked against Razorpay's documented samples (copied at
the end of this module from shared/reference/razorpay/).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import razorpay
from fastapi import FastAPI, Request, Response

from api.sandboxes.razorpay import API_PREFIX, razorpay_sandbox_app
from discom.clock import utcnow
from discom.payments.gateway import link_request
from discom.payments.qr import qr_png
from discom.payments.sandbox import (
    SANDBOX_KEY_ID,
    SANDBOX_KEY_SECRET,
    WEBHOOK_PATH,
    DeliveryMode,
    PaymentSandbox,
    WebhookDeliverer,
)
from discom.payments.signing import sign, verify

PUBLIC = "http://bijli.test"
WEBHOOK_SECRET = "test-webhook-secret"
AUTH = (SANDBOX_KEY_ID, SANDBOX_KEY_SECRET)
LINKS = f"{API_PREFIX}/v1/payment_links"


@dataclass
class Received:
    headers: httpx.Headers
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class WebhookEndpoint:
    """Stands in for Bijli's `POST /webhooks/razorpay`: records, answers as told."""

    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to give first; then 200

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(WEBHOOK_PATH)
        async def webhook(request: Request) -> Response:
            self.received.append(Received(httpx.Headers(request.headers), await request.body()))
            return Response(status_code=self.answers.pop(0) if self.answers else 200)

        return app

    def events(self) -> list[str]:
        return [r.json()["event"] for r in self.received]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    sandbox: PaymentSandbox
    deliverer: WebhookDeliverer
    endpoint: WebhookEndpoint
    client: httpx.AsyncClient
    clock: Clock


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock, endpoint = Clock(), WebhookEndpoint()
    sandbox = PaymentSandbox(public_base_url=PUBLIC, clock=clock)
    webhook_client = httpx.AsyncClient(transport=httpx.ASGITransport(endpoint.app()))
    deliverer = WebhookDeliverer(webhook_client, f"{PUBLIC}{WEBHOOK_PATH}", WEBHOOK_SECRET,
                                 backoff_seconds=0)
    app = razorpay_sandbox_app(sandbox, deliverer)
    async with webhook_client, httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url=PUBLIC) as client:
        yield World(sandbox, deliverer, endpoint, client, clock)


async def create_link(world: World, **overrides: Any) -> dict[str, Any]:
    """A link created over the wire with exactly the body RazorpayGateway sends."""
    body = link_request(
        amount_paise=254_050, reference_id="BJ1234567-a1b2c3",
        description="Electricity dues, consumer 1234567", customer_name="Ramesh Kumar",
        customer_contact="+919876543210", consumer_no="1234567",
        expire_by=world.clock.now + timedelta(hours=24), callback_url=f"{PUBLIC}/pay/done")
    body |= overrides
    response = await world.client.post(LINKS, json=body, auth=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def checkout_path(link: dict[str, Any]) -> str:
    return urlsplit(link["short_url"]).path


def key_paths(document: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON document; `notes` and `customer` are data, not shape."""
    if not isinstance(document, dict):
        return set()
    paths = set()
    for key, value in document.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if key not in ("notes", "customer"):
            paths |= key_paths(value, f"{path}.")
    return paths


# --- paying on the checkout page -----------------------------------------------------------

async def test_paying_on_the_checkout_page_delivers_webhooks_signed_with_the_webhook_secret(
        world: World) -> None:
    link = await create_link(world)

    page = await world.client.get(checkout_path(link))
    receipt = await world.client.post(checkout_path(link))

    assert page.status_code == 200 and "Pay ₹2,540.50" in page.text
    assert receipt.status_code == 200 and "Payment successful" in receipt.text
    assert world.endpoint.events() == ["payment.captured", "order.paid", "payment_link.paid"]
    for delivery in world.endpoint.received:
        signature = delivery.headers["x-razorpay-signature"]
        assert verify(delivery.body, signature, WEBHOOK_SECRET)
        assert not verify(delivery.body, signature, SANDBOX_KEY_SECRET)
        assert delivery.headers["content-type"] == "application/json"
    event_ids = [d.headers["x-razorpay-event-id"] for d in world.endpoint.received]
    assert len(set(event_ids)) == 3
    payment_ids = {d.json()["payload"]["payment"]["entity"]["id"]
                   for d in world.endpoint.received}
    assert len(payment_ids) == 1 and payment_ids.pop() in receipt.text


async def test_the_paid_webhook_has_the_keys_and_nesting_of_razorpays_sample(
        world: World) -> None:
    # Shaped like the sample's link: no callback URL, customer without a name.
    link = await create_link(world, callback_url=None, callback_method=None,
                             customer={"contact": "9000090000", "email": "a@example.com"})
    await world.client.post(checkout_path(link))

    [paid] = [r.json() for r in world.endpoint.received if r.json()["event"].endswith(".paid")
              and r.json()["event"].startswith("payment_link")]

    assert key_paths(paid) == key_paths(REFERENCE_PAID)
    assert paid["contains"] == ["payment_link", "order", "payment"]
    entities = {name: paid["payload"][name]["entity"] for name in paid["contains"]}
    assert entities["payment_link"]["notes"] == {"consumer_no": "1234567"}
    assert entities["payment_link"]["order_id"] == entities["payment"]["order_id"]
    assert entities["order"]["product_id"] == link["id"].removeprefix("plink_")
    assert entities["order"]["receipt"] == link["reference_id"]
    assert entities["payment"]["description"] == "#" + link["id"].removeprefix("plink_")
    assert (entities["payment"]["amount"], entities["payment"]["status"]) == (254_050, "captured")


async def test_the_webhook_body_cannot_be_reproduced_by_re_serialising_it(
        world: World) -> None:
    link = await create_link(world)
    await world.client.post(checkout_path(link))

    [delivery] = [r for r in world.endpoint.received if r.json()["event"] == "payment_link.paid"]
    reserialised = json.dumps(delivery.json(), separators=(",", ":")).encode()

    assert not verify(reserialised, delivery.headers["x-razorpay-signature"], WEBHOOK_SECRET)


async def test_a_partial_payment_leaves_the_link_partially_paid_until_the_rest_is_paid(
        world: World) -> None:
    link = await create_link(world, amount=10_000, accept_partial=True,
                             first_min_partial_amount=1_000)

    first = await world.client.post(checkout_path(link), data={"amount": "40"})
    after_first = (await world.client.get(f"{LINKS}/{link['id']}", auth=AUTH)).json()
    events_after_first = world.endpoint.events()
    await world.client.post(checkout_path(link))
    after_rest = (await world.client.get(f"{LINKS}/{link['id']}", auth=AUTH)).json()

    assert first.status_code == 200 and "partially_paid" in first.text
    assert (after_first["status"], after_first["amount_paid"]) == ("partially_paid", 4_000)
    assert events_after_first == ["payment.captured", "payment_link.partially_paid"]
    assert (after_rest["status"], after_rest["amount_paid"]) == ("paid", 10_000)
    assert [p["amount"] for p in after_rest["payments"]] == [4_000, 6_000]
    assert world.endpoint.events()[2:] == ["payment.captured", "order.paid", "payment_link.paid"]


async def test_a_partial_amount_is_refused_on_a_link_that_does_not_accept_it(
        world: World) -> None:
    link = await create_link(world)

    page = await world.client.get(checkout_path(link))
    refused = await world.client.post(checkout_path(link), data={"amount": "100"})

    assert 'name=amount' not in page.text
    assert refused.status_code == 400 and "Partial payments are not allowed" in refused.text
    assert world.endpoint.received == []


async def test_a_paid_link_cannot_be_paid_again(world: World) -> None:
    link = await create_link(world)
    await world.client.post(checkout_path(link))

    again = await world.client.post(checkout_path(link))

    assert again.status_code == 409 and "paid" in again.text
    assert len(world.endpoint.received) == 3


async def test_the_return_to_bijli_is_signed_the_way_the_sdk_checks_it(world: World) -> None:
    link = await create_link(world)
    receipt = await world.client.post(checkout_path(link))

    [href] = re.findall(r'<a href="([^"]+)">Return to the merchant', receipt.text)
    url = urlsplit(unescape(href))
    params = dict(parse_qsl(url.query))
    sdk = razorpay.Client(auth=AUTH)
    # The SDK wants three of the query parameters under names without "razorpay_".
    for name in ("payment_link_id", "payment_link_reference_id", "payment_link_status"):
        params[name] = params[f"razorpay_{name}"]

    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{PUBLIC}/pay/done"
    assert params["razorpay_payment_link_status"] == "paid"
    assert params["razorpay_payment_link_reference_id"] == "BJ1234567-a1b2c3"
    assert sdk.utility.verify_payment_link_signature(params) is True


# --- expiry and cancellation ---------------------------------------------------------------

async def test_letting_a_link_expire_sends_payment_link_expired_shaped_like_the_sample(
        world: World) -> None:
    link = await create_link(world, accept_partial=True, first_min_partial_amount=100,
                             customer={"name": "G K", "contact": "+919000090000",
                                       "email": "g@example.com"})

    page = await world.client.post(f"{checkout_path(link)}/expire")

    assert page.status_code == 200 and "expired" in page.text
    [expired] = world.endpoint.received
    assert expired.json()["event"] == "payment_link.expired"
    assert key_paths(expired.json()) == key_paths(REFERENCE_EXPIRED)
    assert expired.json()["contains"] == ["payment_link"]
    entity = expired.json()["payload"]["payment_link"]["entity"]
    assert entity["status"] == "expired" and entity["expired_at"] > 0
    assert verify(expired.body, expired.headers["x-razorpay-signature"], WEBHOOK_SECRET)


async def test_a_link_past_its_expire_by_expires_when_someone_opens_it(world: World) -> None:
    link = await create_link(world, expire_by=int((world.clock.now + timedelta(minutes=20))
                                                  .timestamp()))
    world.clock.now += timedelta(minutes=21)

    page = await world.client.get(checkout_path(link))
    refused = await world.client.post(checkout_path(link))

    assert "cannot be paid" in page.text
    assert refused.status_code == 409
    assert world.endpoint.events() == ["payment_link.expired"]


async def test_cancelling_through_the_api_sends_payment_link_cancelled(world: World) -> None:
    link = await create_link(world)

    cancelled = await world.client.post(f"{LINKS}/{link['id']}/cancel", auth=AUTH)
    again = await world.client.post(f"{LINKS}/{link['id']}/cancel", auth=AUTH)

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] > 0
    assert again.status_code == 400 and again.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert world.endpoint.events() == ["payment_link.cancelled"]


# --- delivery modes and failures -----------------------------------------------------------

class Reversing:
    """A predictable "shuffle": reverses the batch."""

    def choice(self, seq: Any) -> Any:
        return seq[0]

    def shuffle(self, x: list[Any]) -> None:
        x.reverse()


async def test_twice_mode_delivers_every_event_twice_with_the_same_id_and_bytes(
        world: World) -> None:
    world.deliverer.mode = DeliveryMode(twice=True)
    link = await create_link(world)

    await world.client.post(checkout_path(link))

    first, second = world.endpoint.received[:3], world.endpoint.received[3:]
    assert len(second) == 3
    assert [(r.headers["x-razorpay-event-id"], r.body) for r in first] == [
        (r.headers["x-razorpay-event-id"], r.body) for r in second]


async def test_the_checkout_page_can_ask_for_each_webhook_twice(world: World) -> None:
    link = await create_link(world)

    page = await world.client.get(checkout_path(link))
    await world.client.post(checkout_path(link), data={"delivery_options": "1", "twice": "1"})

    assert "name=twice" in page.text and "name=shuffle" in page.text
    assert len(world.endpoint.received) == 6
    assert len({r.headers["x-razorpay-event-id"] for r in world.endpoint.received}) == 3


async def test_shuffle_mode_delivers_the_events_in_another_order(world: World) -> None:
    world.deliverer = WebhookDeliverer(
        world.deliverer.client, world.deliverer.url, WEBHOOK_SECRET,
        mode=DeliveryMode(shuffle=True), rng=Reversing(), backoff_seconds=0)
    link = await create_link(world)
    checkout = world.sandbox.pay(link["id"])

    results = await world.deliverer.deliver(checkout.events)

    assert world.endpoint.events() == ["payment_link.paid", "order.paid", "payment.captured"]
    assert [r.event for r in results] == world.endpoint.events()
    assert all(r.ok for r in results)


async def test_a_failing_webhook_endpoint_is_retried_and_a_lasting_failure_is_reported(
        world: World) -> None:
    world.endpoint.answers = [500, 200, 503, 503, 503]  # 1st event: 500, 200; 2nd: 503 ×3
    link = await create_link(world)
    checkout = world.sandbox.pay(link["id"])

    captured, order_paid, link_paid = await world.deliverer.deliver(checkout.events)

    assert (captured.ok, captured.attempts, captured.status_code) == (True, 2, 200)
    assert (order_paid.ok, order_paid.attempts, order_paid.status_code) == (False, 3, 503)
    assert (link_paid.ok, link_paid.attempts) == (True, 1)


async def test_a_failed_delivery_is_shown_on_the_receipt(world: World) -> None:
    world.endpoint.answers = [503] * 9
    link = await create_link(world)

    receipt = await world.client.post(checkout_path(link))

    assert receipt.status_code == 200
    assert "payment.captured" in receipt.text and "503 after 3 attempts" in receipt.text


async def test_an_unreachable_webhook_endpoint_is_reported_not_raised(world: World) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        deliverer = WebhookDeliverer(client, f"{PUBLIC}{WEBHOOK_PATH}", WEBHOOK_SECRET,
                                     attempts=2, backoff_seconds=0)
        link = await create_link(world)
        results = await deliverer.deliver(world.sandbox.pay(link["id"]).events)

    assert [(r.ok, r.status_code, r.attempts) for r in results] == [(False, None, 2)] * 3
    assert all("ConnectError" in (r.error or "") for r in results)


# --- what the API refuses ------------------------------------------------------------------

@pytest.mark.parametrize("auth", [None, (SANDBOX_KEY_ID, "wrong"), ("rzp_test_other", "x")])
async def test_requests_without_the_right_basic_auth_are_refused_in_razorpays_shape(
        world: World, auth: tuple[str, str] | None) -> None:
    response = await world.client.get(f"{LINKS}/plink_00000000000000", auth=auth)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert "api key" in response.json()["error"]["description"]


async def test_a_duplicate_reference_id_is_refused_in_razorpays_shape(world: World) -> None:
    link = await create_link(world)

    response = await world.client.post(
        LINKS, auth=AUTH, json={"amount": 1000, "reference_id": link["reference_id"]})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("BAD_REQUEST_ERROR", "reference_id")


def _in_minutes(minutes: int) -> int:
    return int((utcnow() + timedelta(minutes=minutes)).timestamp())


@pytest.mark.parametrize(("change", "bad_field"), [
    ({"amount": 99}, "amount"),
    ({"amount": "2540.50"}, "amount"),
    ({"expire_by": _in_minutes(10)}, "expire_by"),
    ({"expire_by": _in_minutes(60 * 24 * 200)}, "expire_by"),
    ({"reference_id": "R" * 41}, "reference_id"),
    ({"expires_by": _in_minutes(60)}, "expires_by"),
    ({"notes": {f"k{n}": "v" for n in range(16)}}, "notes"),
    ({"notes": {"consumer_no": "x" * 257}}, "notes"),
    ({"callback_method": "post"}, "callback_method"),
    ({"currency": "USD"}, "currency"),
    ({"upi_link": True}, "upi_link"),
])
async def test_links_razorpay_would_refuse_are_refused(
        world: World, change: dict[str, Any], bad_field: str) -> None:
    body = link_request(
        amount_paise=254_050, reference_id="BJ1234567-bad", description="dues",
        customer_name="R", customer_contact=None, consumer_no="1234567",
        expire_by=utcnow() + timedelta(hours=1), callback_url=f"{PUBLIC}/pay/done") | change

    response = await world.client.post(LINKS, json=body, auth=AUTH)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert response.json()["error"]["field"] == bad_field


async def test_created_links_carry_the_fields_of_razorpays_link_entity(world: World) -> None:
    link = await create_link(world)

    assert {"id", "amount", "amount_paid", "currency", "status", "short_url", "reference_id",
            "expire_by", "expired_at", "cancelled_at", "customer", "notes", "notify",
            "payments", "created_at", "updated_at", "accept_partial",
            "first_min_partial_amount", "description", "reminder_enable", "callback_url",
            "callback_method", "upi_link", "user_id"} <= set(link)
    assert link["payments"] is None and link["status"] == "created"
    assert link["short_url"] == f"{PUBLIC}/sandbox/pay/{link['id']}"


# --- the checkout page ---------------------------------------------------------------------

async def test_the_checkout_page_shows_the_amount_in_rupees_with_indian_grouping(
        world: World) -> None:
    link = await create_link(world, amount=12_345_678)

    page = await world.client.get(checkout_path(link))

    assert "₹1,23,456.78" in page.text and "1234567" in page.text and "created" in page.text


async def test_hostile_text_is_escaped_on_the_checkout_page(world: World) -> None:
    link = await create_link(
        world, description="<script>alert('dues')</script>",
        customer={"name": '"><img src=x onerror=alert(1)>'},
        notes={"consumer_no": "<b>1234567</b>"}, accept_partial=True)

    page = await world.client.get(checkout_path(link))

    assert page.status_code == 200
    assert "<script>" not in page.text and "<img" not in page.text and "<b>" not in page.text
    assert "&lt;script&gt;alert(&#x27;dues&#x27;)&lt;/script&gt;" in page.text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text


async def test_an_unknown_link_has_no_checkout_page(world: World) -> None:
    page = await world.client.get("/sandbox/pay/plink_00000000000000")

    assert page.status_code == 404


# --- signatures and QR codes ---------------------------------------------------------------

def test_signatures_agree_with_the_sdk_and_tampering_is_detected() -> None:
    body = b'{"event":"payment_link.paid","payload":{}}'
    signature = sign(body, WEBHOOK_SECRET)
    sdk = razorpay.Client(auth=AUTH)

    assert sdk.utility.verify_webhook_signature(body.decode(), signature, WEBHOOK_SECRET)
    assert verify(body, signature, WEBHOOK_SECRET)
    assert verify(body, signature.upper(), WEBHOOK_SECRET)
    assert not verify(body + b" ", signature, WEBHOOK_SECRET)
    assert not verify(body, signature, "another-secret")
    for bad in (None, "", "not-hex", "é" * 64, signature[:-1]):
        assert not verify(body, bad, WEBHOOK_SECRET)


def test_a_payment_link_becomes_a_png_qr_code_big_enough_to_scan() -> None:
    png = qr_png(f"{PUBLIC}/sandbox/pay/plink_QflcnnZqCekuvL")

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width == height and width >= 290


# Verbatim copy of shared/reference/razorpay/payment_link.paid.json, Razorpay's sample.
REFERENCE_PAID = json.loads(r"""
{
 "account_id": "acc_OU2H3nkLn9jDVo",
 "contains": [
  "payment_link",
  "order",
  "payment"
 ],
 "created_at": 1749618314,
 "entity": "event",
 "event": "payment_link.paid",
 "payload": {
  "order": {
   "entity": {
    "account_number": null,
    "amount": 1000,
    "amount_due": 0,
    "amount_paid": 1000,
    "app_offer": false,
    "attempts": 1,
    "authorized": true,
    "bank": null,
    "bank_account": null,
    "checkout_config_id": null,
    "created_at": 1749618325,
    "currency": "INR",
    "customer_id": null,
    "discount": false,
    "first_payment_min_amount": null,
    "force_offer": null,
    "id": "QflczVVaNJciLq",
    "late_auth_config_id": null,
    "merchant_id": "OU2H3nkLn9jDVo",
    "method": null,
    "notes": [],
    "offers": {},
    "order_metas": [],
    "order_relationships": [],
    "partial_payment": false,
    "payer_name": null,
    "payment_capture": true,
    "product_id": "QflcnnZqCekuvL",
    "product_type": "payment_link_v2",
    "provider_context": null,
    "public_key": "rzp_live_XXXXXXXXXXXXXX",
    "public_response": null,
    "receipt": "23",
    "reference2": null,
    "reference3": null,
    "reference4": null,
    "reference5": null,
    "reference6": null,
    "reference7": null,
    "reference8": null,
    "source": null,
    "status": "paid",
    "transfers": null,
    "updated_at": 1749618372
   }
  },
  "payment": {
   "entity": {
    "acquirer_data": {
     "rrn": "103608848276"
    },
    "amount": 1000,
    "amount_refunded": 0,
    "amount_transferred": 0,
    "bank": null,
    "base_amount": 1000,
    "captured": true,
    "card": null,
    "card_id": null,
    "contact": "+919876543210",
    "created_at": 1749618371,
    "currency": "INR",
    "description": "#QflcnnZqCekuvL",
    "email": null,
    "entity": "payment",
    "error_code": null,
    "error_description": null,
    "error_reason": null,
    "error_source": null,
    "error_step": null,
    "fee": 24,
    "fee_bearer": "platform",
    "id": "pay_Qfldmt5StKZFCB",
    "international": false,
    "invoice_id": null,
    "method": "upi",
    "notes": [],
    "order_id": "order_QflczVVaNJciLq",
    "refund_status": null,
    "status": "captured",
    "tax": 4,
    "upi": {
     "payer_account_type": "bank_account",
     "vpa": "gaurav.kumar@exampleupi"
    },
    "vpa": "gaurav.kumar@exampleupi",
    "wallet": null
   }
  },
  "payment_link": {
   "entity": {
    "accept_partial": false,
    "amount": 1000,
    "amount_paid": 1000,
    "cancelled_at": 0,
    "created_at": 1749618314,
    "currency": "INR",
    "customer": {
     "contact": "9000090000",
     "email": "gauravkumar@example.com"
    },
    "description": "Test Payment",
    "expire_by": 0,
    "expired_at": 0,
    "first_min_partial_amount": 0,
    "id": "plink_QflcnnZqCekuvL",
    "notes": null,
    "notify": {
     "email": false,
     "sms": false,
     "whatsapp": false
    },
    "order_id": "order_QflczVVaNJciLq",
    "reference_id": "23",
    "reminder_enable": false,
    "reminders": {
     "status": "failed"
    },
    "short_url": "https://rzp.io/rzp/twH5w1Y",
    "status": "paid",
    "updated_at": 1749618371,
    "upi_link": false,
    "user_id": "HWPf1AudnADDV5",
    "whatsapp_link": false
   }
  }
 }
}
""")

# Verbatim copy of shared/reference/razorpay/payment_link.expired.json, Razorpay's sample.
REFERENCE_EXPIRED = json.loads(r"""
{
 "account_id": "acc_MWWeS9Ico5tQBk",
 "contains": [
  "payment_link"
 ],
 "created_at": 1748424975,
 "entity": "event",
 "event": "payment_link.expired",
 "payload": {
  "payment_link": {
   "entity": {
    "accept_partial": true,
    "amount": 1000,
    "amount_paid": 0,
    "callback_method": "get",
    "callback_url": "https://example-callback-url.com/",
    "cancelled_at": 0,
    "created_at": 1748424975,
    "currency": "INR",
    "customer": {
     "contact": "+919000090000",
     "email": "gaurav.kumar@example.com",
     "name": "Gaurav Kumar"
    },
    "description": "Payment for policy no #23456",
    "expire_by": 1748426427,
    "expired_at": 1748426438,
    "first_min_partial_amount": 100,
    "id": "plink_QaIlOGFf8KZNF8",
    "notes": {
     "Test": "True"
    },
    "notify": {
     "email": true,
     "sms": true,
     "whatsapp": false
    },
    "reference_id": "NewTestPayment",
    "reminder_enable": true,
    "reminders": {
     "status": "failed"
    },
    "short_url": "https://rzp.io/rzp/REnL57hV",
    "status": "expired",
    "updated_at": 1748424975,
    "upi_link": false,
    "user_id": "",
    "whatsapp_link": false
   }
  }
 }
}
""")

