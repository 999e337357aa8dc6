"""Use case: a consumer paid, but Razorpay's webhooks never reached Bijli.

The consumer pays in the sandbox and no event is delivered (a disabled endpoint, a wrong
secret). The link reconciler asks Razorpay — through the real SDK, against the sandbox on a
socket — about links still open after a while, and posts what it finds exactly as the
webhook would have: credited once, and the reconnection follows.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from discom.clock import utcnow
from discom.models import PaymentLink
from discom.payments.gateway import RazorpayGateway
from discom.payments.reconciler import reconcile_open_links
from tests.fakes.bijli_app import BijliApp, demo_no
from tests.fakes.razorpay_server import unused_port
from tests.payment_steps import (
    DISCONNECTED,
    DISCONNECTED_TOTAL,
    ask_for_link,
    console_text,
    dues_of,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    links_of,
    payment_credits,
)

AFTER = timedelta(minutes=10)


async def age_links(bijli: BijliApp, by: timedelta) -> None:
    """Let time pass for the links (the reconciler only checks links open for a while)."""
    async with bijli.db.uow() as uow:
        for link in (await uow.session.scalars(select(PaymentLink))).all():
            link.created_at, link.updated_at = link.created_at - by, link.updated_at - by
        await uow.commit()


async def reconcile(bijli: BijliApp, gateway: RazorpayGateway | None = None) -> int:
    return await reconcile_open_links(
        bijli.db, gateway or bijli.services.gateway, utcnow(), after=AFTER,
        unavailable=bijli.services.gateway_errors)


async def test_a_payment_whose_webhooks_never_arrive_is_recovered_and_reconnects(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    bijli.razorpay.pay(payer.link_id)  # paid; no webhook delivered
    await age_links(bijli, timedelta(minutes=11))

    recovered = await reconcile(bijli)
    await bijli.drain()

    assert recovered == 1
    [payment] = await bijli.payments(consumer_no)
    assert (payment.source, payment.amount_paise) == ("razorpay", DISCONNECTED_TOTAL)
    assert payment.external_id == bijli.razorpay.link(payer.link_id).payments[0].id
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    [link] = await links_of(bijli, consumer_no)
    assert link.status == "paid"
    [order] = await bijli.orders(consumer_no)
    assert order.status == "confirmed"
    assert len(bijli.services.simulator.commands) == 1
    assert [m.kind for m in await bijli.messages("payer")] == [
        "payment_received", "reconnection_started", "supply_restored"]
    assert "Supply restored" in console_text(bijli)


async def test_a_reconciler_run_eleven_minutes_later_credits_the_payment_and_orders_reconnection(
        bijli: BijliApp):
    """The same recovery seen from a clock 11 minutes ahead (the other tests age the links
    instead, so that the worker, on the real clock, finds the order and messages due)."""
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    bijli.razorpay.pay(payer.link_id)
    later = utcnow() + timedelta(minutes=11)

    first = await reconcile_open_links(bijli.db, bijli.services.gateway, later, after=AFTER,
                                       unavailable=bijli.services.gateway_errors)
    second = await reconcile_open_links(bijli.db, bijli.services.gateway,
                                        later + timedelta(minutes=11), after=AFTER,
                                        unavailable=bijli.services.gateway_errors)

    assert (first, second) == (1, 0)
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    [order] = await bijli.orders(consumer_no)
    assert order.status == "requested"


async def test_a_link_open_for_less_than_the_waiting_time_is_left_to_the_webhook(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    bijli.razorpay.pay(payer.link_id)
    await age_links(bijli, timedelta(minutes=9))

    assert await reconcile(bijli) == 0
    assert await payment_credits(bijli, consumer_no) == []


async def test_running_the_reconciler_twice_credits_once(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    bijli.razorpay.pay(payer.link_id)
    await age_links(bijli, timedelta(minutes=11))

    first = await reconcile(bijli)
    await age_links(bijli, timedelta(minutes=11))
    second = await reconcile(bijli)

    assert (first, second) == (1, 0)
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert len(await bijli.orders(consumer_no)) == 1


async def test_webhooks_arriving_after_the_reconciler_recovered_the_payment_change_nothing(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    checkout = bijli.razorpay.pay(payer.link_id)
    await age_links(bijli, timedelta(minutes=11))
    await reconcile(bijli)

    results = await bijli.webhooks.deliver(checkout.events)
    await bijli.drain()

    assert all(result.ok for result in results)
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert len(await bijli.orders(consumer_no)) == 1
    assert len(bijli.services.simulator.commands) == 1
    assert [m.kind for m in await bijli.messages("payer")].count("payment_received") == 1


async def test_the_reconciler_and_the_webhooks_at_the_same_moment_credit_once(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    checkout = bijli.razorpay.pay(payer.link_id)
    await age_links(bijli, timedelta(minutes=11))

    recovered, *answers = await asyncio.gather(
        reconcile(bijli), *(bijli.post_razorpay(e.body, e.id) for e in checkout.events))
    await bijli.drain()

    assert recovered in (0, 1)
    assert {answer.status_code for answer in answers} == {200}
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert [o.status for o in await bijli.orders(consumer_no)] == ["confirmed"]
    assert len(bijli.services.simulator.commands) == 1


async def test_with_razorpay_unreachable_nothing_is_lost_and_the_next_run_recovers_it(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    bijli.razorpay.pay(payer.link_id)
    await age_links(bijli, timedelta(minutes=11))
    settings = bijli.services.settings
    down = RazorpayGateway(settings.razorpay_key_id,
                           settings.razorpay_key_secret.get_secret_value(),
                           f"http://127.0.0.1:{unused_port()}", timeout=5)
    try:
        while_down = await reconcile(bijli, down)
    finally:
        down.close()

    assert while_down == 0
    assert await payment_credits(bijli, consumer_no) == []
    [link] = await links_of(bijli, consumer_no)
    assert link.status == "created"

    back = await reconcile(bijli)
    await bijli.drain()

    assert back == 1
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]
    assert [o.status for o in await bijli.orders(consumer_no)] == ["confirmed"]


async def test_a_link_that_expired_unpaid_without_its_webhook_is_marked_expired_and_not_reused(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    bijli.razorpay.expire(payer.link_id)  # the payment_link.expired webhook is lost
    await age_links(bijli, timedelta(minutes=11))

    assert await reconcile(bijli) == 0
    again = await payer.chat.send(f"/pay {consumer_no}")

    first, second = await links_of(bijli, consumer_no)
    assert (first.status, second.status) == ("expired", "created")
    assert second.short_url in again
    assert (await dues_of(bijli, consumer_no)).total == DISCONNECTED_TOTAL
