"""Use case: Razorpay hangs while a chat asks for a link, and nothing else waits for it.

Issue 10, Medium 6: the link is requested in the dialog's transaction and Razorpay is called
after the commit (discom/payments/link_requests.py), so a hanging gateway holds neither a row
lock nor a database connection. The app runs with a pool of ONE connection: a webhook that
completes while the dialog's call is still stalled proves the connection was given back (on
SQLite, that the writer lock was too). No timed assertions: "completes while the other
request is still blocked" is the measure.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from discom.clock import utcnow
from discom.payments.link_requests import prune_link_requests
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import WEBHOOK_SECRET, BijliApp, demo_no, test_settings
from tests.fakes.razorpay_server import RazorpayServer
from tests.payment_steps import (
    DISCONNECTED,
    DUE_SOON,
    ask_for_link,
    demo_owed,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_id,
    links_of,
    payment_credits,
)


@pytest.fixture
def bijli_settings(db, database_url: str, razorpay_server: RazorpayServer) -> Settings:
    return test_settings(database_url, razorpay_key_id=razorpay_server.key_id,
                         razorpay_key_secret=razorpay_server.key_secret,
                         razorpay_api_base_url=razorpay_server.api_base_url,
                         razorpay_webhook_secret=WEBHOOK_SECRET,
                         database_pool_size=1, database_pool_overflow=0)


async def stalled_at_razorpay(razorpay: RazorpayServer, count: int = 1) -> None:
    """Wait until `count` API requests are being held by the sandbox's delay."""
    for _ in range(400):
        if razorpay.sandbox.stalled_requests >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the dialog never reached Razorpay")


async def test_a_webhook_is_answered_while_razorpay_hangs_on_another_chats_link(
        bijli: BijliApp, razorpay_server: RazorpayServer):
    neighbour = await ask_for_link(bijli, demo_no(DUE_SOON), "neighbour")
    checkout = bijli.razorpay.pay(link_id(neighbour.link_url))  # paid; webhooks not sent yet
    razorpay_server.sandbox.api_delay_seconds = 60
    chat = ChatDriver(bijli.services.dialog, "waiting")
    await chat.start_in("en")
    asking = asyncio.create_task(chat.send(f"/pay {demo_no(DISCONNECTED)}"))
    await stalled_at_razorpay(razorpay_server)

    results = await bijli.webhooks.deliver(checkout.events)

    assert all(result.ok for result in results), results
    assert not asking.done()  # answered while the dialog's call is still stalled
    assert await payment_credits(bijli, demo_no(DUE_SOON)) == [demo_owed(DUE_SOON)]
    razorpay_server.sandbox.api_delay_seconds = 0
    answer = await asking
    [link] = await links_of(bijli, demo_no(DISCONNECTED))
    assert f"Pay here: {link.short_url}" in answer
    assert answer.index("Pay here:") < answer.index("What would you like to do?")


async def test_a_second_pay_while_the_first_is_with_razorpay_makes_no_second_link(
        bijli: BijliApp, razorpay_server: RazorpayServer):
    consumer_no = demo_no(DISCONNECTED)
    chat = ChatDriver(bijli.services.dialog, "double-tap")
    await chat.start_in("en")
    razorpay_server.sandbox.api_delay_seconds = 60
    first = asyncio.create_task(chat.send(f"/pay {consumer_no}"))
    await stalled_at_razorpay(razorpay_server)

    second = await chat.send(f"/pay {consumer_no}")
    razorpay_server.sandbox.api_delay_seconds = 0
    first_answer = await first

    assert "Your payment link is being made" in second and "Pay here:" not in second
    [link] = await links_of(bijli, consumer_no)
    assert f"Pay here: {link.short_url}" in first_answer
    assert len(razorpay_server.sandbox.list_links()["payment_links"]) == 1
    assert link.short_url in await chat.send(f"/pay {consumer_no}")  # reused from now on


async def test_finished_link_requests_are_forgotten_after_a_week_and_their_links_kept(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await ask_for_link(bijli, consumer_no)

    kept = await prune_link_requests(bijli.db, utcnow() + timedelta(days=6))
    removed = await prune_link_requests(bijli.db, utcnow() + timedelta(days=8))

    assert (kept, removed) == (0, 1)
    assert len(await links_of(bijli, consumer_no)) == 1
