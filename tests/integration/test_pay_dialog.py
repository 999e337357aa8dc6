"""Use case: a consumer asks to pay in the chat and gets the itemised total and a link for it.

The dialog runs in the whole app (console channel through `ChatDriver`, and Telegram through
the fake Bot API); links are made by the real razorpay SDK against the sandbox on a socket,
so the link Razorpay holds can be compared with what the consumer was told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from bot.dialog.deps import DialogDeps
from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import seed
from discom.money import format_inr
from discom.payments.gateway import GatewayRejected, GatewayUnavailable, RazorpayGateway
from discom.payments.links import LinkSettings
from discom.payments.qr import qr_png
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import WEBHOOK_SECRET, BijliApp, demo_no, test_settings
from tests.fakes.razorpay_server import RazorpayServer, unused_port
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_updates import callback_update, text_update
from tests.payment_steps import (
    DISCONNECTED,
    DISCONNECTED_TOTAL,
    DUE_SOON,
    PAID_UP,
    ask_for_link,
    demo_owed,
    dues_of,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_id,
    links_of,
    timeline_lines,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sandbox_links(bijli: BijliApp) -> list[dict]:
    return bijli.razorpay.list_links()["payment_links"]


# --- the total and its link -----------------------------------------------------------------

async def test_pay_with_a_consumer_number_gives_the_itemised_total_and_a_link_for_exactly_it(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)

    payer = await ask_for_link(bijli, consumer_no)

    answer = payer.answer
    assert f"Consumer {consumer_no} (M**** P****)" in answer
    assert "Bill for" in answer
    assert f"Arrears: {format_inr(145_000)}" in answer
    assert f"Disconnection and reconnection charges: {format_inr(30_000)}" in answer
    assert f"Total payable: {format_inr(DISCONNECTED_TOTAL)}" in answer
    assert f"Pay {format_inr(DISCONNECTED_TOTAL)} securely online" in answer
    assert f"Pay here: {payer.link_url}" in answer
    assert (await dues_of(bijli, consumer_no)).total == DISCONNECTED_TOTAL
    [made] = sandbox_links(bijli)
    assert made["id"] == payer.link_id
    assert (made["amount"], made["currency"], made["status"]) == (
        DISCONNECTED_TOTAL, "INR", "created")
    assert made["notes"] == {"consumer_no": consumer_no}
    assert made["accept_partial"] is False
    assert not made["customer"]  # a chat not linked to the account: no name, no mobile
    assert made["callback_url"].startswith(bijli.services.settings.public_base_url)
    [link] = await links_of(bijli, consumer_no)
    assert (link.provider_link_id, link.reference_id) == (made["id"], made["reference_id"])


async def test_the_pay_button_asks_for_the_number_then_gives_the_total_and_link(
        bijli: BijliApp):
    consumer_no = demo_no(DUE_SOON)
    chat = ChatDriver(bijli.services.dialog, "button-payer")
    await chat.start_in("en")

    asked = await chat.send(button="menu:pay")
    answer = await chat.send(consumer_no)

    assert "Please send your consumer number" in asked
    assert f"Total payable: {format_inr(demo_owed(DUE_SOON))}" in answer
    [made] = sandbox_links(bijli)
    assert made["amount"] == demo_owed(DUE_SOON)
    assert made["short_url"] in answer


async def test_pay_asked_for_in_words_works_too(bijli: BijliApp):
    consumer_no = demo_no(DUE_SOON)
    chat = ChatDriver(bijli.services.dialog, "typist")
    await chat.start_in("en")

    asked = await chat.send("I want to pay")
    answer = await chat.send(consumer_no)

    assert "Please send your consumer number" in asked
    assert f"Total payable: {format_inr(demo_owed(DUE_SOON))}" in answer
    assert len(sandbox_links(bijli)) == 1


async def test_the_reply_carries_the_link_as_a_qr_code_image(bijli: BijliApp):
    payer = await ask_for_link(bijli, demo_no(DISCONNECTED))

    [with_link] = [reply for reply in payer.chat.last if reply.link]

    assert with_link.link == payer.link_url
    assert with_link.image_png is not None
    assert with_link.image_png.startswith(PNG_MAGIC)


async def test_asking_again_reuses_the_open_link(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)

    again = await payer.chat.send(f"/pay {consumer_no}")
    by_button = await payer.chat.send(button="menu:pay")
    by_button += await payer.chat.send(consumer_no)

    assert payer.link_url in again and payer.link_url in by_button
    assert len(sandbox_links(bijli)) == 1
    assert len(await links_of(bijli, consumer_no)) == 1


async def test_a_different_amount_gets_a_new_link_for_the_new_total(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CC-1")).status_code == 201

    again = await payer.chat.send(f"/pay {consumer_no}")

    remaining = DISCONNECTED_TOTAL - 100_000
    assert f"Total payable: {format_inr(remaining)}" in again
    assert payer.link_url not in again
    newest = sandbox_links(bijli)[0]
    assert newest["amount"] == remaining
    assert newest["short_url"] in again
    assert len(sandbox_links(bijli)) == 2


async def test_nothing_due_says_so_and_makes_no_link(bijli: BijliApp):
    chat = ChatDriver(bijli.services.dialog, "paid-up")
    await chat.start_in("en")

    answer = await chat.send(f"/pay {demo_no(PAID_UP)}")

    assert f"Nothing is due on consumer {demo_no(PAID_UP)}" in answer
    assert sandbox_links(bijli) == []
    assert all(reply.link is None for reply in chat.last)


async def test_a_consumer_without_a_mobile_number_still_gets_a_link(bijli: BijliApp):
    consumer_no = demo_no("no registered mobile")

    payer = await ask_for_link(bijli, consumer_no)

    made = bijli.razorpay.link(payer.link_id)
    assert made.amount == demo_owed("no registered mobile")
    assert "contact" not in made.customer


async def test_a_remainder_under_one_rupee_is_not_offered_as_a_link_and_says_how_to_pay(
        bijli: BijliApp):
    """Razorpay refuses links under ₹1: "try again in a minute" would never come true."""
    consumer_no = demo_no(DISCONNECTED)
    paid = await bijli.post_ops_payment(consumer_no, DISCONNECTED_TOTAL - 50, "CC-ALMOST")
    assert paid.status_code == 201
    chat = ChatDriver(bijli.services.dialog, "fifty-paise")
    await chat.start_in("en")

    answer = await chat.send(f"/pay {consumer_no}")

    assert f"Total payable: {format_inr(50)}" in answer
    assert "cannot be paid online" in answer
    assert "try again in a minute" not in answer
    assert all(reply.link is None for reply in chat.last)
    assert sandbox_links(bijli) == []


async def test_after_paying_the_link_nothing_is_due(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    await bijli.pay(payer.link_url)

    again = await payer.chat.send(f"/pay {consumer_no}")

    assert f"Nothing is due on consumer {consumer_no}" in again
    assert len(sandbox_links(bijli)) == 1


# --- Razorpay down or slow ------------------------------------------------------------------

@pytest.fixture
async def razorpay_down(database_url: str) -> AsyncIterator[BijliApp]:
    """The app with RAZORPAY_API_BASE_URL pointing at a port nothing listens on."""
    settings = test_settings(database_url, razorpay_key_id="rzp_test_down",
                             razorpay_key_secret="secret",
                             razorpay_api_base_url=f"http://127.0.0.1:{unused_port()}",
                             razorpay_webhook_secret=WEBHOOK_SECRET)
    app = create_app(settings, run_worker=False)
    await seed(app.state.services.db)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bijli.test") as client:
        yield BijliApp(app, client, [], None, None)  # type: ignore[arg-type]


async def test_with_razorpay_unreachable_the_consumer_is_asked_to_try_again_and_can_go_on(
        razorpay_down: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    chat = ChatDriver(razorpay_down.services.dialog, "unlucky")
    await chat.start_in("en")

    answer = await chat.send(f"/pay {consumer_no}")
    after = await chat.send(f"/dues {consumer_no}")

    assert "Please try again in a minute" in answer
    assert "What would you like to do?" in answer
    assert all(reply.link is None for reply in chat.last)
    assert f"Total payable: {format_inr(DISCONNECTED_TOTAL)}" in after
    assert await links_of(razorpay_down, consumer_no) == []


@pytest.fixture
async def slow_gateway_dialog(db: Database, razorpay_server: RazorpayServer
                              ) -> AsyncIterator[DialogService]:
    """The dialog wired as the composition root wires it, with a gateway that gives up
    after half a second (the app's own waits 10 s, which a test need not sit through)."""
    await seed(db)
    gateway = RazorpayGateway(razorpay_server.key_id, razorpay_server.key_secret,
                              razorpay_server.api_base_url, timeout=0.5)
    try:
        yield DialogService(db, default_language="en", deps=DialogDeps(
            gateway=gateway, link_settings=LinkSettings(callback_url="http://bijli.test/paid"),
            gateway_errors=(GatewayUnavailable, GatewayRejected), qr_png=qr_png))
    finally:
        razorpay_server.sandbox.api_delay_seconds = 0
        gateway.close()


async def test_with_razorpay_too_slow_the_consumer_is_asked_to_try_again_and_later_succeeds(
        slow_gateway_dialog: DialogService, razorpay_server: RazorpayServer):
    consumer_no = demo_no(DISCONNECTED)
    chat = ChatDriver(slow_gateway_dialog, "patient")
    await chat.start_in("en")
    razorpay_server.sandbox.api_delay_seconds = 30

    slow = await chat.send(f"/pay {consumer_no}")
    razorpay_server.sandbox.api_delay_seconds = 0
    later = await chat.send(f"/pay {consumer_no}")

    assert "Please try again in a minute" in slow
    link = next(reply.link for reply in chat.last if reply.link)
    assert f"Pay here: {link}" in later
    assert razorpay_server.sandbox.link(link_id(link)).amount == DISCONNECTED_TOTAL


# --- Telegram -------------------------------------------------------------------------------

TELEGRAM_SECRET = "pay-dialog-secret"
TELEGRAM_CHAT = 777_000_123


@pytest.fixture
async def telegram_bijli(database_url: str, fake_telegram: FakeTelegramAPI,
                         razorpay_server: RazorpayServer) -> AsyncIterator[httpx.AsyncClient]:
    settings: Settings = test_settings(
        database_url, telegram_bot_token=fake_telegram.token,
        telegram_api_base_url=fake_telegram.base_url,
        telegram_webhook_secret=TELEGRAM_SECRET, razorpay_key_id=razorpay_server.key_id,
        razorpay_key_secret=razorpay_server.key_secret,
        razorpay_api_base_url=razorpay_server.api_base_url,
        razorpay_webhook_secret=WEBHOOK_SECRET)
    app = create_app(settings, run_worker=False)
    await seed(app.state.services.db)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bijli.test") as client:
        yield client


async def test_pay_on_telegram_sends_the_link_as_a_qr_photo_captioned_with_the_link(
        telegram_bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI,
        razorpay_server: RazorpayServer):
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    for update in (text_update(1, TELEGRAM_CHAT, "/start"),
                   callback_update(2, TELEGRAM_CHAT, "lang:en"),
                   text_update(3, TELEGRAM_CHAT, f"/pay {demo_no(DISCONNECTED)}")):
        assert (await telegram_bijli.post("/webhooks/telegram", json=update,
                                          headers=headers)).status_code == 200

    [photo] = fake_telegram.calls("sendPhoto")
    [made] = razorpay_server.sandbox.list_links()["payment_links"]
    assert photo.params["chat_id"] == TELEGRAM_CHAT
    assert photo.params["photo"].content.startswith(PNG_MAGIC)
    assert made["short_url"] in photo.params["caption"]
    assert f"Total payable: {format_inr(DISCONNECTED_TOTAL)}" in photo.params["caption"]
    assert made["amount"] == DISCONNECTED_TOTAL


# --- supply status after paying: the timeline -----------------------------------------------

async def test_supply_status_shows_the_chat_that_paid_the_timeline_with_times(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    await bijli.pay(payer.link_url)
    await bijli.drain()

    status = await payer.chat.send(f"/status {consumer_no}")

    assert "Supply: connected" in status
    events = timeline_lines(status)
    assert [event["what"] for event in events] == [
        "payment received", "reconnect command sent", "supply restored"]


async def test_a_chat_that_only_typed_the_number_sees_no_timeline(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    await bijli.pay(payer.link_url)
    await bijli.drain()
    stranger = ChatDriver(bijli.services.dialog, "stranger")
    await stranger.start_in("en")

    status = await stranger.send(f"/status {consumer_no}")
    dues = await stranger.send(f"/dues {consumer_no}")

    assert "Supply: connected" in status
    assert "Recent events" not in status
    assert "payment received" not in status and "Receipt" not in status
    assert "Recent events" not in dues
    assert await bijli.messages("stranger") == []


async def test_of_two_chats_that_asked_for_links_only_the_one_that_paid_is_told_and_sees_it(
        bijli: BijliApp):
    """Two phones ask for the account's link; the one that paid hears of its payment and the
    reconnection it caused, the other of nothing: asking for a link subscribes no one."""
    consumer_no = demo_no(DISCONNECTED)
    first = await ask_for_link(bijli, consumer_no, "father")
    second = await ask_for_link(bijli, consumer_no, "son")

    await bijli.pay(second.link_url)
    await bijli.drain()

    told = ["payment_received", "reconnection_started", "supply_restored"]
    assert [m.kind for m in await bijli.messages("son")] == told
    assert await bijli.messages("father") == []
    assert "Recent events:" in await second.chat.send(f"/status {consumer_no}")
    assert "Recent events:" not in await first.chat.send(f"/status {consumer_no}")
