"""Use case: a consumer talks to Bijli on WhatsApp (through Twilio), pays, and is told.

The whole app runs in-process with the real twilio client; Twilio is the fake REST server,
and Twilio's webhooks are signed form posts (tests/twilio_steps.py). The worker is driven by
the test (`bijli.drain()`), so every reply is sent through the REST API by the WhatsApp
sender, as in production.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from discom.models import ChatAccount
from discom.settings import Settings
from tests.fakes.bijli_app import BijliApp, demo_no
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.twilio_steps import (
    SMS_PATH,
    STATUS_PATH,
    TEMPLATES,
    WHATSAPP_FROM,
    WHATSAPP_PATH,
    Phone,
    age_chat,
    chat_of,
    deliveries,
    inbound_whatsapp,
    link_chat,
    outbox,
    post_signed,
    post_status,
    sign,
    twilio_settings,
    variables,
    written,
)

DISCONNECTED = "disconnected for non-payment, with charges"  # ₹2,870.00
MEENA_MOBILE = "+919826012345"  # her registered mobile (demo data)
SON_WHATSAPP = "+919000011111"  # her son's WhatsApp, from which he pays


@pytest.fixture
def bijli_settings(db, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI) -> Settings:
    return twilio_settings(database_url, razorpay_server, fake_twilio)


async def start_in_english(phone: Phone) -> None:
    await phone.ask("hi")
    await phone.ask("2")


async def test_a_whatsapp_conversation_from_dues_to_payment_to_supply_restored(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    phone = Phone(bijli, fake_twilio, SON_WHATSAPP)
    consumer_no = demo_no(DISCONNECTED)

    welcome = await phone.ask("hi")
    assert "1. हिन्दी\n2. English" in welcome
    menu = await phone.ask("2")
    assert "1. Check dues\n2. Pay dues\n3. Supply status" in menu
    assert "Please send your consumer number" in await phone.ask("1")
    dues = await phone.ask(consumer_no)
    assert "Total payable: ₹2,870.00" in dues and "(overdue)" in dues

    # The number just looked up is offered instead of asked for again (numbered on WhatsApp).
    assert f"1. {consumer_no} (M**** P****)" in await phone.ask("2")
    await phone.send("1")
    [pay_message, menu_again] = phone.new()
    assert "Pay ₹2,870.00 securely online" in pay_message.body
    link = next(word for word in pay_message.body.split() if "/sandbox/pay/" in word
                or "plink_" in word)
    [media_url] = pay_message.form["MediaUrl"]
    assert media_url.startswith("http://bijli.test/media/qr/") and media_url.endswith(".png")
    image = await bijli.client.get(media_url.removeprefix("http://bijli.test"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert "What would you like to do?" in menu_again.body

    await bijli.pay(link)
    await bijli.drain()

    told = phone.new()
    assert [m.body.split("\n")[0][:24] for m in told] == [
        "Payment of ₹2,870.00 rec", "Your dues are cleared. R", "Supply restored: meter S"]
    assert all(m.from_ == WHATSAPP_FROM and "ContentSid" not in m.form for m in told)
    assert all(m.status_callback == "http://bijli.test/webhooks/twilio/status" for m in told)
    # The son hears of his payment as his own copy; the notice itself is the holder's:
    # with no chat linked to her account, an SMS to her registered mobile.
    holders, copy = await outbox(bijli, "supply_restored")
    assert copy.dedupe_key == f"{holders.dedupe_key}/copy-{copy.chat_id}"
    assert await deliveries(bijli, copy.id) == [("whatsapp", "queued")]
    assert await deliveries(bijli, holders.id) == [("sms", "queued")]
    assert [m.body[:25] for m in fake_twilio.messages(MEENA_MOBILE)] == [
        "Bijli: Payment of Rs 2,87", "Bijli: Dues cleared. Reco", "Bijli: Supply restored. M"]


async def test_the_webhook_answers_empty_twiml_and_replies_go_through_the_rest_api(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    form = inbound_whatsapp(SON_WHATSAPP, "hi")
    response = await post_signed(bijli.client, "http://bijli.test", WHATSAPP_PATH, form)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert fake_twilio.messages() == []  # nothing sent inside the webhook
    await bijli.drain()
    [prompt] = fake_twilio.messages(f"whatsapp:{SON_WHATSAPP}")
    assert "Please choose your language" in prompt.body


async def test_a_replayed_message_sid_is_answered_once(bijli: BijliApp,
                                                       fake_twilio: FakeTwilioAPI):
    phone = Phone(bijli, fake_twilio, SON_WHATSAPP)
    await phone.send("hi", sid="SM" + "7" * 32)
    before = await written(bijli)
    await phone.send("hi", sid="SM" + "7" * 32)
    await phone.send("hi", sid="SM" + "7" * 32)
    assert await written(bijli) == before
    assert len(phone.received()) == 1


@pytest.mark.parametrize("path", [WHATSAPP_PATH, SMS_PATH, STATUS_PATH])
async def test_a_forged_signature_is_refused_and_nothing_is_written(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI, path: str):
    form = inbound_whatsapp(SON_WHATSAPP, "hi") | {"MessageStatus": "failed"}
    before = await written(bijli)
    forged = [
        sign("http://bijli.test" + path, form, token="not-the-auth-token"),  # wrong key
        sign("http://bijli.test" + path, form | {"Body": "something else"}),  # body changed
        sign("http://bijli.test/webhooks/twilio/other", form),  # another URL
        "",  # empty
    ]
    for signature in forged:
        response = await post_signed(bijli.client, "http://bijli.test", path, form,
                                     signature=signature)
        assert response.status_code == 403, signature
    response = await bijli.client.post(path, data=form)  # no signature at all
    assert response.status_code == 403
    assert await written(bijli) == before
    assert fake_twilio.messages() == []


async def test_the_signature_is_checked_against_the_public_url_behind_a_tls_proxy(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    """The proxy forwards to http://10.0.0.7:8000; Twilio signed https://… as configured."""
    form = inbound_whatsapp(SON_WHATSAPP, "hi")
    transport = httpx.ASGITransport(app=bijli.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:8000") as proxy:
        as_twilio_signed = await proxy.post(WHATSAPP_PATH, data=form, headers={
            "X-Twilio-Signature": sign("http://bijli.test" + WHATSAPP_PATH, form)})
        over_request_url = await proxy.post(WHATSAPP_PATH, data=form, headers={
            "X-Twilio-Signature": sign("http://10.0.0.7:8000" + WHATSAPP_PATH, form)})
    assert as_twilio_signed.status_code == 200
    assert over_request_url.status_code == 403


async def test_outside_the_24_hour_window_a_notification_uses_the_approved_template(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    fake_twilio.enforce_whatsapp_window = True
    phone = Phone(bijli, fake_twilio, SON_WHATSAPP)
    await start_in_english(phone)
    consumer_no = demo_no(DISCONNECTED)
    await phone.ask("2")
    await phone.ask(consumer_no)
    await link_chat(bijli, "whatsapp", SON_WHATSAPP, consumer_no)  # KYC done
    await age_chat(bijli, "whatsapp", SON_WHATSAPP, hours=25)  # he went quiet yesterday

    response = await bijli.post_ops_payment(consumer_no, 287_000, "CASH-0001")
    assert response.status_code == 201, response.text
    await bijli.drain()

    receipt = next(m for m in phone.new() if "ContentSid" in m.form)
    assert receipt.form["ContentSid"] == [TEMPLATES["payment_received"]["en"]]
    assert receipt.body is None
    assert variables(receipt) == {"1": "₹2,870.00", "2": "27 Nov 2026, 10:00 AM",
                                  "3": "CASH-0001"}
    assert fake_twilio.doomed(receipt.sid) is None  # no free text outside the window
    [message] = await outbox(bijli, "payment_received")
    assert message.channel == "whatsapp" and message.status == "sent"


async def test_without_a_template_the_notification_goes_by_sms(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    """"Reconnection started" has no approved template: outside the window it is an SMS to
    the registered mobile, in the chat's language."""
    phone = Phone(bijli, fake_twilio, SON_WHATSAPP)
    await start_in_english(phone)
    consumer_no = demo_no(DISCONNECTED)
    await phone.ask("2")
    await phone.ask(consumer_no)
    await link_chat(bijli, "whatsapp", SON_WHATSAPP, consumer_no)  # KYC done
    await age_chat(bijli, "whatsapp", SON_WHATSAPP, hours=30)

    await bijli.post_ops_payment(consumer_no, 287_000, "CASH-0002")
    await bijli.drain()

    [started] = await outbox(bijli, "reconnection_started")
    assert started.channel == "sms"
    assert await deliveries(bijli, started.id) == [("whatsapp", "refused"), ("sms", "queued")]
    sms = [m.body for m in fake_twilio.messages(MEENA_MOBILE)]
    assert any(body.startswith("Bijli: Dues cleared. Reconnection of meter") for body in sms)
    assert not any("Reconnection" in (m.body or "") for m in phone.received())
    # Kinds with a template stayed on WhatsApp.
    [restored] = await outbox(bijli, "supply_restored")
    assert restored.channel == "whatsapp"


async def test_an_undelivered_status_callback_moves_the_message_to_the_next_channel(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    phone = Phone(bijli, fake_twilio, SON_WHATSAPP)
    await start_in_english(phone)
    consumer_no = demo_no(DISCONNECTED)
    await phone.ask("2")
    await phone.ask(consumer_no)
    await link_chat(bijli, "whatsapp", SON_WHATSAPP, consumer_no)  # KYC done
    await bijli.post_ops_payment(consumer_no, 287_000, "CASH-0003")
    await bijli.drain()
    [received] = await outbox(bijli, "payment_received")
    sid = next(m.sid for m in phone.received() if (m.body or "").startswith("Payment of"))

    answer = await post_status(bijli, fake_twilio, sid, "undelivered", 63016)
    assert answer.status_code == 204
    await bijli.drain()

    assert await deliveries(bijli, received.id) == [("whatsapp", "undelivered"),
                                                    ("sms", "queued")]
    [sms] = [m for m in fake_twilio.messages(MEENA_MOBILE) if "Payment of" in (m.body or "")]
    assert sms.body.startswith("Bijli: Payment of Rs 2,870.00 received on")

    # Late and repeated callbacks change nothing: statuses only move forward, and the
    # message is not sent again anywhere.
    for status in ("sent", "undelivered", "queued"):
        assert (await post_status(bijli, fake_twilio, sid, status, 63016)).status_code == 204
    await bijli.drain()
    assert await deliveries(bijli, received.id) == [("whatsapp", "undelivered"),
                                                    ("sms", "queued")]
    assert len([m for m in fake_twilio.messages() if "Payment of" in (m.body or "")]) == 2


async def test_delivered_and_read_callbacks_are_recorded(bijli: BijliApp,
                                                         fake_twilio: FakeTwilioAPI):
    phone = Phone(bijli, fake_twilio, SON_WHATSAPP)
    await phone.send("hi")
    [reply] = phone.received()
    [message] = await outbox(bijli, "reply")
    await post_status(bijli, fake_twilio, reply.sid, "sent")
    await post_status(bijli, fake_twilio, reply.sid, "read")
    await post_status(bijli, fake_twilio, reply.sid, "delivered")  # late: read is further
    assert await deliveries(bijli, message.id) == [("whatsapp", "read")]
    unknown = await post_status(bijli, fake_twilio, reply.sid, "delivered")
    assert unknown.status_code == 204


async def test_a_chat_linked_by_kyc_is_the_head_of_the_chain_and_falls_back_in_order(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    """Meena's own WhatsApp is linked to her account; it is her chain's head. When it cannot
    take the message (no template outside the window), SMS to her registered mobile."""
    own = Phone(bijli, fake_twilio, MEENA_MOBILE)
    await start_in_english(own)
    consumer_no = demo_no(DISCONNECTED)
    consumer_id = await bijli.consumer_id(consumer_no)
    chat = await chat_of(bijli, "whatsapp", MEENA_MOBILE)
    async with bijli.db.uow() as uow:
        uow.session.add(ChatAccount(chat_id=chat.id, consumer_id=consumer_id,
                                    linked_at=chat.created_at))
        await uow.commit()
    await age_chat(bijli, "whatsapp", MEENA_MOBILE, hours=48)

    await bijli.post_ops_payment(consumer_no, 287_000, "CASH-0004")
    await bijli.drain()

    [started] = await outbox(bijli, "reconnection_started")
    assert await deliveries(bijli, started.id) == [("whatsapp", "refused"), ("sms", "queued")]
    [received] = await outbox(bijli, "payment_received")
    assert await deliveries(bijli, received.id) == [("whatsapp", "queued")]  # a template
    async with bijli.db.uow() as uow:
        links = (await uow.session.scalars(select(ChatAccount))).all()
    assert len(links) == 1
