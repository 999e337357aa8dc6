"""Use case: a consumer without a smartphone asks by SMS keyword, in Hindi or English, and
is answered by SMS; an SMS payer is told by SMS when the supply is back."""

from __future__ import annotations

import pytest

from bot.channels.sms_text import encoding, segments
from discom.settings import Settings
from tests.fakes.bijli_app import BijliApp, demo_no
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.twilio_api import SMS_FROM, FakeTwilioAPI
from tests.twilio_steps import Phone, deliveries, outbox, twilio_settings, written

DUE_SOON = "bill due in 3 days"  # ₹3,456.78, connected
DISCONNECTED = "disconnected for non-payment, with charges"  # ₹2,870.00
PAID_UP = "paid up"
FEATURE_PHONE = "+919300000001"


@pytest.fixture
def bijli_settings(db, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI) -> Settings:
    return twilio_settings(database_url, razorpay_server, fake_twilio)


@pytest.fixture
def phone(bijli: BijliApp, fake_twilio: FakeTwilioAPI) -> Phone:
    return Phone(bijli, fake_twilio, FEATURE_PHONE, channel="sms")


def short(text: str) -> bool:
    return segments(text) <= 2


async def test_sms_keywords_in_english(phone: Phone, fake_twilio: FakeTwilioAPI):
    bill = await phone.ask(f"BILL {demo_no(DUE_SOON)}")
    assert bill.startswith(f"Bijli: Consumer {demo_no(DUE_SOON)}: total payable Rs 3,456.78,"
                           " due date ")
    assert f"SMS PAY {demo_no(DUE_SOON)}" in bill
    status = await phone.ask("status")  # the number is remembered
    assert status == f"Bijli: Consumer {demo_no(DUE_SOON)}: supply is on."
    pay = await phone.ask("Pay")
    assert pay.startswith(f"Bijli: Pay Rs 3,456.78 for consumer {demo_no(DUE_SOON)} here: ")
    assert "/sandbox/pay/plink_" in pay
    help_text = await phone.ask("HELP")
    assert "BILL <consumer no>" in help_text
    assert await phone.ask("what?") == help_text
    paid_up = await phone.ask(demo_no(PAID_UP))  # a bare number is BILL
    assert paid_up == f"Bijli: Nothing is due on consumer {demo_no(PAID_UP)}. Thank you!"
    unknown = await phone.ask("bill 9999999999")
    assert unknown.startswith("Bijli: Consumer number 9999999999 was not found")

    sent = phone.received()
    assert all(m.from_ == SMS_FROM for m in sent)
    assert all(encoding(m.body) == "GSM-7" and short(m.body) for m in sent), [
        (m.body, segments(m.body)) for m in sent if not short(m.body)]


async def test_sms_keywords_in_hindi(phone: Phone):
    no = demo_no(DISCONNECTED)
    bill = await phone.ask(f"बिल {no}")
    assert bill.startswith(f"बिजली: उपभोक्ता {no} पर कुल ₹2,870.00 देय, अंतिम तिथि ")
    status = await phone.ask("स्थिति")
    assert status == f"बिजली: उपभोक्ता {no}: भुगतान न होने से सप्लाई बंद है।"
    pay = await phone.ask("भुगतान")
    assert pay.startswith(f"बिजली: उपभोक्ता {no} के ₹2,870.00 का भुगतान करें: ")
    assert (await phone.ask("मदद")).startswith("बिजली: बकाया हेतु SMS करें: बिल <क्रमांक>")
    need = await phone.ask("भुगतान ABC")
    assert need.startswith("बिजली: उपभोक्ता क्रमांक (बिल पर छपा) भी लिखें")
    # Devanagari digits are numbers too.
    assert (await phone.ask("बिल १०००००००१३")).startswith("बिजली: उपभोक्ता 1000000013")
    assert all(encoding(m.body) == "UCS-2" and short(m.body) for m in phone.received())


async def test_an_sms_is_answered_once_however_often_twilio_delivers_it(
        bijli: BijliApp, phone: Phone):
    await phone.send(f"BILL {demo_no(DUE_SOON)}", sid="SM" + "5" * 32)
    before = await written(bijli)
    await phone.send(f"BILL {demo_no(DUE_SOON)}", sid="SM" + "5" * 32)
    assert await written(bijli) == before
    assert len(phone.received()) == 1


async def test_an_sms_payer_is_told_by_sms_when_the_supply_is_back(
        bijli: BijliApp, phone: Phone):
    no = demo_no(DISCONNECTED)
    pay = await phone.ask(f"PAY {no}")
    link = pay.split("here: ", 1)[1]
    await bijli.pay(link)
    await bijli.drain()

    told = [m.body for m in phone.new()]
    assert [body[:25] for body in told] == [
        "Bijli: Payment of Rs 2,87", "Bijli: Dues cleared. Reco", "Bijli: Supply restored. M"]
    assert all(short(body) and encoding(body) == "GSM-7" for body in told)
    # The holder's registered mobile is told too; the paying phone gets its own copy.
    holders, copy = await outbox(bijli, "supply_restored")
    assert copy.dedupe_key == f"{holders.dedupe_key}/copy-{copy.chat_id}"
    assert await deliveries(bijli, holders.id) == [("sms", "queued")]
    assert await deliveries(bijli, copy.id) == [("sms", "queued")]


@pytest.mark.parametrize("problem", [False, True], ids=["legacy-error", "rfc9457-error"])
async def test_an_sms_the_provider_refuses_is_not_retried(bijli: BijliApp,
                                                          fake_twilio: FakeTwilioAPI,
                                                          phone: Phone, problem: bool):
    fake_twilio.fail_next("/Messages.json", 400, 21610, "Attempt to send to unsubscribed "
                          "recipient", problem=problem)
    await phone.send("HELP")
    [reply] = await outbox(bijli, "reply_help")
    assert reply.status == "failed" and "21610" in reply.last_error
    assert await deliveries(bijli, reply.id) == [("sms", "refused")]
