"""Issue 10, Medium 6 (the OTP half) and Low 8 (the OTP key).

- An OTP send is recorded and committed before Twilio is called: while Twilio hangs on the
  SMS, the consumer's row and a pooled connection are free, so a Razorpay webhook for the same
  account is answered at once.
- A code is checked under every configured encryption key, so codes sent just before a key
  rotation still work after it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import seed
from discom.models import KycRecord, OtpChallenge
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import WEBHOOK_SECRET, BijliApp, demo_no, test_settings
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, FakeTwilioAPI
from tests.kyc_steps import (
    KEY,
    NOW,
    OLD_KEY,
    PAID_UP,
    Clock,
    count,
    kyc_dialog,
    kyc_settings,
    rows,
    samagra_of,
    sandbox_code,
)
from tests.payment_steps import DISCONNECTED, ask_for_link, dues_of

HANG_SECONDS = 4.0


@pytest.fixture
def bijli_settings(db: Database, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI) -> Settings:
    """The app as deployed: Razorpay (the sandbox on a socket) and Twilio SMS (the fake)."""
    return test_settings(
        database_url, razorpay_key_id=razorpay_server.key_id,
        razorpay_key_secret=razorpay_server.key_secret,
        razorpay_api_base_url=razorpay_server.api_base_url,
        razorpay_webhook_secret=WEBHOOK_SECRET, data_encryption_key=KEY,
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.base_url, twilio_verify_base_url=fake_twilio.base_url,
        twilio_sms_from=SMS_FROM, twilio_timeout_seconds=HANG_SECONDS + 5)


async def test_a_webhook_is_answered_while_twilio_hangs_on_an_otp_for_the_same_account(
    bijli: BijliApp, fake_twilio: FakeTwilioAPI
):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    paid = next(e for e in bijli.razorpay.pay(payer.link_id).events
                if e.event == "payment_link.paid")
    holder = ChatDriver(bijli.services.dialog, "holder")
    await holder.start_in("en")
    await holder.send(f"/kyc {consumer_no}")
    await holder.send(samagra_of(consumer_no))

    fake_twilio.delay_next("Messages.json", HANG_SECONDS)
    otp = asyncio.create_task(holder.send(button="kyc:agree"))
    # The fake runs on its own thread: poll until the send has reached it (and hangs there).
    while not fake_twilio.requests("Messages.json"):  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    started = time.monotonic()
    response = await bijli.post_razorpay(paid.body, paid.id)
    took = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert not otp.done(), "the webhook must complete while the OTP send is still blocked"
    assert took < 1.5, took
    assert (await dues_of(bijli, consumer_no)).total == 0
    assert "registered mobile 98XXXXXX45" in await otp
    [challenge] = await rows(bijli.db, OtpChallenge)
    assert challenge.status == "pending" and challenge.provider_ref


async def test_a_failed_send_is_recorded_as_failed_and_not_counted(
    db: Database, database_url: str, fake_twilio: FakeTwilioAPI
):
    await seed(db, now=NOW)
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url, fake_twilio), Clock()), "f")
    await chat.start_in("en")
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(samagra_of(PAID_UP[0]))
    fake_twilio.fail_next("Messages.json", 503, 20503)
    assert "could not send the SMS" in await chat.send(button="kyc:agree")
    [challenge] = await rows(db, OtpChallenge)
    assert challenge.status == "failed"
    assert "registered mobile" in await chat.send("resend")  # not held to the wait


# --- key rotation -----------------------------------------------------------------------------

async def test_a_code_sent_before_a_key_rotation_still_works_after_it(
    db: Database, database_url: str
):
    await seed(db, now=NOW)
    clock = Clock()
    before = ChatDriver(kyc_dialog(db, kyc_settings(database_url, data_encryption_key=OLD_KEY),
                                   clock), "r1")
    await before.start_in("en")
    await before.send(f"/kyc {PAID_UP[0]}")
    await before.send(samagra_of(PAID_UP[0]))
    code = sandbox_code(await before.send(button="kyc:agree"))
    # The operator rotates: the new key first, the old one kept until `rotate-keys` ran.
    rotated: DialogService = kyc_dialog(
        db, kyc_settings(database_url, data_encryption_key=f"{KEY},{OLD_KEY}"), clock)
    after = ChatDriver(rotated, "r1")
    assert "KYC complete" in await after.send(code)
    assert await count(db, KycRecord) == 1
