"""Issue 10, High 1: an account speaks only to its holder (ARCHITECTURE.md decision 10).

A stranger who types someone's consumer number into `/pay` (or opens a link) must not
become a recipient of the account's notices, nor see its timeline; the registered mobile is
told by SMS whatever a stranger did. A chat that paid through its own link is told about that
payment and the reconnection it caused, and sees only that. A link asked for by a chat that is
not the holder's carries no customer details to Razorpay's checkout page.

Everything goes through the public surface: WhatsApp messages through (fake) Twilio, signed
Razorpay webhooks from the sandbox's checkout, counter payments on `/ops/payments`, signed HES
meter events; the worker is driven by the test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from discom.clock import utcnow
from discom.hes.signing import sign
from discom.notify.routing import Routing
from discom.reminders import ReminderPolicy, enqueue_reminders
from discom.settings import Settings
from tests.fakes.bijli_app import BijliApp, demo_no
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.payment_steps import (
    DISCONNECTED,
    DUE_SOON,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_id,
    timeline_lines,
)
from tests.twilio_steps import Phone, link_chat, twilio_settings

MEENA_MOBILE = "+919826012345"  # DISCONNECTED's registered mobile (demo data)
SUNITA_MOBILE = "+919812345670"  # DUE_SOON's
STRANGER = "+919000022222"  # a WhatsApp that types other people's numbers
HOLDER = "+919000033333"  # the WhatsApp the account holder linked by KYC
CT_METER = "CT-operated meter, cannot be switched remotely"


@pytest.fixture
def bijli_settings(db, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI) -> Settings:
    return twilio_settings(database_url, razorpay_server, fake_twilio)


@pytest.fixture
async def stranger(bijli: BijliApp, fake_twilio: FakeTwilioAPI) -> Phone:
    phone = Phone(bijli, fake_twilio, STRANGER)
    await phone.ask("hi")
    await phone.ask("2")  # English
    return phone


async def holder_of(bijli: BijliApp, fake_twilio: FakeTwilioAPI, consumer_no: str) -> Phone:
    phone = Phone(bijli, fake_twilio, HOLDER)
    await phone.ask("hi")
    await phone.ask("2")
    await link_chat(bijli, "whatsapp", HOLDER, consumer_no)
    return phone


async def ask_link(phone: Phone, consumer_no: str) -> str:
    answer = await phone.ask(f"/pay {consumer_no}")
    return next(word for word in answer.split() if "/sandbox/pay/" in word)


async def post_hes_event(bijli: BijliApp, consumer_no: str, event_id: str) -> None:
    raw = json.dumps({"type": "meter.event", "event_id": event_id,
                      "meter_id": f"SM{consumer_no}", "event": "relay_disconnected",
                      "reason": "non_payment",
                      "at": utcnow().isoformat().replace("+00:00", "Z")}).encode()
    secret = bijli.services.settings.hes_webhook_secret.get_secret_value()
    response = await bijli.client.post("/webhooks/hes", content=raw, headers={
        "Content-Type": "application/json", "X-HES-Signature": sign(raw, secret)})
    assert response.status_code == 200, response.text


def bodies(fake_twilio: FakeTwilioAPI, number: str) -> list[str]:
    return [m.body or "" for m in fake_twilio.messages(number)]


def recent_events(answer: str) -> list[str]:
    """What the timeline under "Recent events:" says happened, without the times."""
    return [m["what"] for m in timeline_lines(answer)]


async def notices(bijli: BijliApp, number: str) -> list[str]:
    """The kinds of the notices (not replies to its own messages) queued for a chat."""
    return [m.kind for m in await bijli.messages(number) if not m.kind.startswith("reply")]


# --- typing a number or asking for a link subscribes no one ---------------------------------

async def test_a_chat_that_asked_for_a_link_is_told_nothing_of_the_accounts_events(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI, stranger: Phone):
    consumer_no = demo_no(DUE_SOON)
    await ask_link(stranger, consumer_no)
    stranger.new()

    await post_hes_event(bijli, consumer_no, "evt-cut-stranger")  # cut: the notice and total
    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CASH-S1")).status_code == 201
    await bijli.drain()

    assert stranger.new() == []
    assert await notices(bijli, STRANGER) == []


async def test_the_registered_mobile_is_told_by_sms_though_a_stranger_asked_for_a_link(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI, stranger: Phone):
    consumer_no = demo_no(DUE_SOON)
    await ask_link(stranger, consumer_no)

    await post_hes_event(bijli, consumer_no, "evt-cut-mobile")
    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CASH-S2")).status_code == 201
    await bijli.drain()

    told = bodies(fake_twilio, SUNITA_MOBILE)
    assert any("disconnected for non-payment" in body for body in told), told
    assert any(body.startswith("Bijli: Payment of Rs 1,000.00") for body in told), told
    assert any("still due" in body for body in told), told


async def test_the_holders_linked_chat_gets_the_notices_and_not_the_stranger_who_asked_first(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI, stranger: Phone):
    consumer_no = demo_no(DUE_SOON)
    await ask_link(stranger, consumer_no)
    holder = await holder_of(bijli, fake_twilio, consumer_no)

    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CASH-S3")).status_code == 201
    await bijli.drain()

    assert await notices(bijli, HOLDER) == [
        "payment_received", "payment_partial"]
    assert "still due" in "\n".join(m.body or "" for m in holder.new())
    assert await notices(bijli, STRANGER) == []


async def test_reminders_go_to_the_holder_never_to_a_chat_that_asked_for_a_link(
        bijli: BijliApp, stranger: Phone):
    consumer_no = demo_no(DUE_SOON)  # due in 3 days: owed a reminder
    await ask_link(stranger, consumer_no)

    await enqueue_reminders(bijli.db, utcnow(), ReminderPolicy(due_within_days=3), Routing(
        channels=frozenset({"whatsapp", "sms"}), sms_fallback=True, default_language="en"))

    assert await notices(bijli, STRANGER) == []
    assert [m.kind for m in await bijli.messages(SUNITA_MOBILE)] == ["bill_due"]


async def test_a_chat_that_only_asked_for_a_link_sees_no_timeline_in_status(
        bijli: BijliApp, stranger: Phone):
    consumer_no = demo_no(DUE_SOON)
    await ask_link(stranger, consumer_no)
    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CASH-S4")).status_code == 201
    await bijli.drain()

    status = await stranger.ask(f"/status {consumer_no}")

    assert "Supply: connected" in status
    assert "Recent events" not in status and "payment received" not in status


# --- a chat that paid hears of its payment and what it caused, nothing else -----------------

async def test_a_chat_that_paid_through_its_own_link_is_told_of_that_payment_and_the_reconnection(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI, stranger: Phone):
    consumer_no = demo_no(DISCONNECTED)
    await ask_link(stranger, consumer_no)
    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CASH-P1")).status_code == 201
    await bijli.drain()
    link = await ask_link(stranger, consumer_no)  # for the rest

    await bijli.pay(link)
    await bijli.drain()

    assert await notices(bijli, STRANGER) == [
        "payment_received", "reconnection_started", "supply_restored"]
    # The holder's mobile heard of both payments and the reconnection.
    told = bodies(fake_twilio, MEENA_MOBILE)
    assert sum(body.startswith("Bijli: Payment of") for body in told) == 2
    assert any(body.startswith("Bijli: Supply restored") for body in told)


async def test_a_chat_that_paid_is_told_a_technician_will_come_when_its_payment_needs_one(
        bijli: BijliApp, stranger: Phone):
    consumer_no = demo_no(CT_METER)  # cannot be switched remotely
    await ask_link(stranger, consumer_no)
    await post_hes_event(bijli, consumer_no, "evt-cut-ct")  # the total grows by the charges
    await bijli.drain()
    link = await ask_link(stranger, consumer_no)

    await bijli.pay(link)
    await bijli.drain()

    assert await notices(bijli, STRANGER) == ["payment_received", "field_reconnection"]


async def test_a_chat_that_paid_sees_in_status_only_its_own_payment_and_what_it_caused(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI, stranger: Phone):
    consumer_no = demo_no(DISCONNECTED)
    assert (await bijli.post_ops_payment(consumer_no, 100_000, "CASH-P2")).status_code == 201
    await bijli.drain()
    link = await ask_link(stranger, consumer_no)
    await bijli.pay(link)
    await bijli.drain()
    holder = await holder_of(bijli, fake_twilio, consumer_no)

    payer_sees = recent_events(await stranger.ask(f"/status {consumer_no}"))
    holder_sees = recent_events(await holder.ask("/status"))

    assert payer_sees == ["payment received", "reconnect command sent", "supply restored"]
    assert holder_sees == ["payment received", "payment received", "reconnect command sent",
                           "supply restored"]


# --- the link carries the customer's details only for the holder ----------------------------

async def test_a_link_asked_for_by_a_chat_not_linked_to_the_account_carries_no_customer(
        bijli: BijliApp, stranger: Phone):
    link = await ask_link(stranger, demo_no(DISCONNECTED))

    assert bijli.razorpay.link(link_id(link)).customer == {}


async def test_a_link_asked_for_by_the_holders_chat_carries_the_name_and_mobile(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    consumer_no = demo_no(DISCONNECTED)
    holder = await holder_of(bijli, fake_twilio, consumer_no)

    link = await ask_link(holder, consumer_no)

    customer: dict[str, Any] = bijli.razorpay.link(link_id(link)).customer
    assert customer == {"name": "Meena Patel", "contact": MEENA_MOBILE}
