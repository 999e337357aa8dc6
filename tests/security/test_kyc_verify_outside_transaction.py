"""Issue 10, Medium 6 (Twilio Verify's code check): no network call while a transaction is open.

A code that Twilio Verify checks is asked about before the dialog's transaction opens
(`bot/dialog/kyc_prefetch.py::ask_provider_first`); the turn then uses that answer. The app
runs with a pool of ONE connection: a signed Razorpay webhook that completes while the chat's
check is still blocked at Twilio proves no connection (on SQLite: no writer lock, on
PostgreSQL: no row lock) was held meanwhile. "Completes while the other request is still
blocked" is the measure, not a timing.
"""

from __future__ import annotations

import asyncio

import pytest

from discom.db import Database
from discom.kyc.otp import ProviderAnswer, answer_for
from discom.models import KycRecord, OtpChallenge
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import WEBHOOK_SECRET, BijliApp, demo_no, test_settings
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SMS_FROM,
    VERIFY_SERVICE_SID,
    FakeTwilioAPI,
)
from tests.kyc_steps import KEY, count, rows, samagra_of
from tests.payment_steps import DISCONNECTED, ask_for_link, dues_of

HANG_SECONDS = 4.0


@pytest.fixture
def bijli_settings(db: Database, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI) -> Settings:
    """The app as deployed with Twilio Verify, on a pool of one database connection."""
    return test_settings(
        database_url, razorpay_key_id=razorpay_server.key_id,
        razorpay_key_secret=razorpay_server.key_secret,
        razorpay_api_base_url=razorpay_server.api_base_url,
        razorpay_webhook_secret=WEBHOOK_SECRET, data_encryption_key=KEY,
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.base_url, twilio_verify_base_url=fake_twilio.base_url,
        twilio_sms_from=SMS_FROM, twilio_verify_service_sid=VERIFY_SERVICE_SID,
        twilio_timeout_seconds=HANG_SECONDS + 5,
        database_pool_size=1, database_pool_overflow=0)


async def stalled_at_twilio(fake_twilio: FakeTwilioAPI) -> None:
    """Wait until the chat's code check has reached the fake (which holds it)."""
    for _ in range(400):
        if fake_twilio.requests("VerificationCheck"):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the dialog never reached Twilio Verify")


async def test_a_webhook_is_answered_while_twilio_verify_hangs_on_a_code_check(
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
    assert "registered mobile 98XXXXXX45" in await holder.send(button="kyc:agree")
    [start] = fake_twilio.requests("Verifications")
    code = fake_twilio.verification_code(start.get("To") or "")

    fake_twilio.delay_next("VerificationCheck", HANG_SECONDS)
    checking = asyncio.create_task(holder.send(code))
    await stalled_at_twilio(fake_twilio)
    response = await bijli.post_razorpay(paid.body, paid.id)

    assert response.status_code == 200, response.text
    assert not checking.done(), "the webhook must complete while the code check is blocked"
    assert (await dues_of(bijli, consumer_no)).total == 0
    assert "KYC complete" in await checking
    [challenge] = await rows(bijli.db, OtpChallenge)
    assert challenge.status == "verified" and challenge.tries == 0
    assert await count(bijli.db, KycRecord) == 1


def test_an_answer_counts_only_for_its_own_challenge_and_code():
    challenge = OtpChallenge(id=7)
    assert answer_for(challenge, "123456", ProviderAnswer(7, "123456", True)) is True
    assert answer_for(challenge, "123456", ProviderAnswer(7, "123456", False)) is False
    assert answer_for(challenge, "123456", ProviderAnswer(8, "123456", True)) is None
    assert answer_for(challenge, "123456", ProviderAnswer(7, "654321", True)) is None
    assert answer_for(challenge, "123456", None) is None
