"""RazorpayGateway through the real razorpay SDK, against the payment sandbox on a live socket."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog
import structlog.testing

from discom.clock import utcnow
from discom.payments.gateway import (
    GatewayRejected,
    GatewayUnavailable,
    PaymentLink,
    RazorpayGateway,
)
from tests.fakes.razorpay_server import RazorpayServer, unused_port


def gateway_for(server: RazorpayServer, *, timeout: float = 5.0,
                key_secret: str | None = None) -> RazorpayGateway:
    return RazorpayGateway(server.key_id, key_secret or server.key_secret,
                           server.api_base_url, timeout=timeout)


async def create(gateway: RazorpayGateway, reference_id: str = "BJ1234567-a1b2c3",
                 amount_paise: int = 254_050, accept_partial: bool = False) -> PaymentLink:
    return await gateway.create_link(
        amount_paise=amount_paise, reference_id=reference_id,
        description="Electricity dues, consumer 1234567", customer_name="Ramesh Kumar",
        customer_contact="+919876543210", consumer_no="1234567",
        expire_by=utcnow().replace(microsecond=0) + timedelta(hours=24),
        callback_url="http://127.0.0.1:8000/pay/done", accept_partial=accept_partial)


async def test_a_link_is_created_fetched_and_cancelled_through_the_sdk(
        razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server)
    expire_by = utcnow().replace(microsecond=0) + timedelta(hours=24)

    created = await create(gateway)
    fetched = await gateway.fetch_link(created.id)
    cancelled = await gateway.cancel_link(created.id)

    assert created.id.startswith("plink_") and len(created.id) == len("plink_") + 14
    assert (created.reference_id, created.amount_paise, created.amount_paid_paise) == (
        "BJ1234567-a1b2c3", 254_050, 0)
    assert created.status == "created" and created.payments == ()
    assert created.short_url == f"{razorpay_server.root_url}/sandbox/pay/{created.id}"
    assert created.expire_by is not None and abs(created.expire_by - expire_by) < timedelta(
        minutes=1)
    assert fetched == created
    assert cancelled.status == "cancelled"
    assert (await gateway.fetch_link(created.id)).status == "cancelled"


async def test_the_link_is_created_the_way_bijli_wants_it(
        razorpay_server: RazorpayServer) -> None:
    created = await create(gateway_for(razorpay_server))

    stored = razorpay_server.sandbox.link(created.id)
    assert stored.notes == {"consumer_no": "1234567"}
    assert stored.notify == {"sms": False, "email": False, "whatsapp": False}
    assert stored.reminder_enable is False and stored.accept_partial is False
    assert stored.customer == {"name": "Ramesh Kumar", "contact": "+919876543210"}
    assert (stored.callback_url, stored.callback_method) == (
        "http://127.0.0.1:8000/pay/done", "get")


async def test_a_paid_link_lists_its_payment(razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server)
    created = await create(gateway)
    checkout = razorpay_server.sandbox.pay(created.id)

    fetched = await gateway.fetch_link(created.id)

    assert (fetched.status, fetched.amount_paid_paise) == ("paid", 254_050)
    assert fetched.order_id is not None and fetched.order_id.startswith("order_")
    [payment] = fetched.payments
    assert payment.id == checkout.payment.id and payment.id.startswith("pay_")
    assert (payment.amount_paise, payment.method, payment.status) == (254_050, "upi", "captured")
    assert payment.created_at.tzinfo is not None


async def test_a_partly_paid_link_is_partially_paid(razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server)
    created = await create(gateway, amount_paise=10_000, accept_partial=True)
    razorpay_server.sandbox.pay(created.id, 4_000)

    fetched = await gateway.fetch_link(created.id)

    assert (fetched.status, fetched.amount_paid_paise, len(fetched.payments)) == (
        "partially_paid", 4_000, 1)


async def test_a_duplicate_reference_id_is_rejected(razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server)
    await create(gateway, reference_id="BJ1234567-dup")

    with pytest.raises(GatewayRejected, match="reference id"):
        await create(gateway, reference_id="BJ1234567-dup")


async def test_a_create_whose_answer_was_lost_is_found_by_its_reference_id(
        razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server)
    first = await create(gateway, reference_id="BJ1234567-lost")  # answer "lost" in transit
    with pytest.raises(GatewayRejected):
        await create(gateway, reference_id="BJ1234567-lost")  # the retry

    found = await gateway.find_link("BJ1234567-lost")

    assert found is not None and found.id == first.id
    assert await gateway.find_link("BJ1234567-never") is None


async def test_an_amount_below_one_rupee_is_rejected(razorpay_server: RazorpayServer) -> None:
    with pytest.raises(GatewayRejected, match=r"atleast INR 1\.00"):
        await create(gateway_for(razorpay_server), amount_paise=99)


async def test_a_paid_link_cannot_be_cancelled(razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server)
    created = await create(gateway)
    razorpay_server.sandbox.pay(created.id)

    with pytest.raises(GatewayRejected):
        await gateway.cancel_link(created.id)


async def test_an_unknown_link_is_rejected(razorpay_server: RazorpayServer) -> None:
    with pytest.raises(GatewayRejected, match="does not exist"):
        await gateway_for(razorpay_server).fetch_link("plink_00000000000000")


async def test_wrong_api_keys_are_rejected_rather_than_retried(
        razorpay_server: RazorpayServer) -> None:
    gateway = gateway_for(razorpay_server, key_secret="not-the-secret")

    with pytest.raises(GatewayRejected, match="api key"):
        await gateway.fetch_link("plink_00000000000000")


async def test_a_server_that_is_down_is_reported_unavailable() -> None:
    gateway = RazorpayGateway("rzp_test_x", "secret", f"http://127.0.0.1:{unused_port()}",
                              timeout=2.0)

    with pytest.raises(GatewayUnavailable):
        await gateway.fetch_link("plink_00000000000000")


async def test_the_sdks_own_prints_go_to_the_log_never_to_stdout(
        capfd: pytest.CaptureFixture[str]) -> None:
    # stdout is the consumer's conversation in `bijli chat`.
    gateway = RazorpayGateway("rzp_test_x", "secret", f"http://127.0.0.1:{unused_port()}",
                              timeout=2.0)

    with structlog.testing.capture_logs() as logs, pytest.raises(GatewayUnavailable):
        await gateway.fetch_link("plink_00000000000000")

    assert "Connection failed" not in capfd.readouterr().out
    assert {"event": "razorpay.sdk_said", "text": "Connection failed.",
            "log_level": "info"} in logs


async def test_a_server_slower_than_the_timeout_is_reported_unavailable(
        razorpay_server: RazorpayServer) -> None:
    # The sandbox stalls for a minute and would then answer "does not exist" (rejected):
    # only a timeout that is honoured turns this into GatewayUnavailable.
    razorpay_server.sandbox.api_delay_seconds = 60
    gateway = gateway_for(razorpay_server, timeout=0.2)

    with pytest.raises(GatewayUnavailable):
        await gateway.fetch_link("plink_00000000000000")
