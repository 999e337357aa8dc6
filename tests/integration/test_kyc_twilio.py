"""Use case: KYC codes and notices go out through Twilio — checked at the wire.

The real twilio client (requests, in a worker thread) posts to the fake Twilio server; what
the consumer's phone would receive is what the fake recorded.
"""

from __future__ import annotations

import pytest

from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import seed
from discom.models import ChatAccount, KycRecord, MobileChange, OtpChallenge
from tests.drivers import ChatDriver
from tests.fakes.twilio_api import ACCOUNT_SID, SMS_FROM, VERIFY_SERVICE_SID, FakeTwilioAPI
from tests.kyc_steps import (
    NEW_MOBILE,
    NOW,
    PAID_UP,
    SAMAGRA_MEMBER,
    Clock,
    code_in,
    count,
    kyc_dialog,
    kyc_settings,
    rows,
    up_to_consent,
)

MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
VERIFY_PATH = f"/v2/Services/{VERIFY_SERVICE_SID}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def english_chat(db: Database, dialog: DialogService, ref: str = "t1") -> ChatDriver:
    await seed(db, now=NOW)
    chat = ChatDriver(dialog, ref)
    await chat.start_in("en")
    return chat


@pytest.fixture
async def sms_chat(db: Database, database_url: str, clock: Clock, fake_twilio: FakeTwilioAPI
                   ) -> ChatDriver:
    return await english_chat(db, kyc_dialog(db, kyc_settings(database_url, fake_twilio), clock))


async def test_the_otp_sms_is_posted_to_twilio_for_the_registered_mobile(
    sms_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database
):
    consumer_no, mobile = PAID_UP
    await up_to_consent(sms_chat, consumer_no)
    answer = await sms_chat.send(button="kyc:agree")
    assert "registered mobile 98XXXXXX10" in answer and "SANDBOX" not in answer
    [request] = fake_twilio.requests()
    assert (request.method, request.path, request.user) == ("POST", MESSAGES_PATH, ACCOUNT_SID)
    assert request.get("To") == mobile and request.get("From") == SMS_FROM
    [sms] = fake_twilio.messages(to=mobile)
    assert sms.body is not None and "is your Bijli OTP for KYC" in sms.body
    assert consumer_no in sms.body and "never asks for an OTP on a call" in sms.body
    [challenge] = await rows(db, OtpChallenge)
    assert challenge.provider_ref == sms.sid and sms.sid.startswith("SM")
    assert code_in(sms.body) not in (challenge.code_hash or "")
    assert "KYC complete" in await sms_chat.send(code_in(sms.body))
    assert await count(db, ChatAccount) == 1


async def test_the_hindi_otp_sms_is_in_hindi(db: Database, database_url: str, clock: Clock,
                                              fake_twilio: FakeTwilioAPI):
    await seed(db, now=NOW)
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url, fake_twilio), clock), "hi1")
    await chat.start_in("hi")
    await up_to_consent(chat, PAID_UP[0])
    await chat.send(button="kyc:agree")
    [sms] = fake_twilio.messages()
    assert "केवाईसी के लिए आपका Bijli OTP" in (sms.body or "")
    assert sms.segments <= 3  # Unicode SMS: 67 characters a part


async def test_a_slow_twilio_is_given_up_and_the_code_can_be_asked_for_again(
    db: Database, database_url: str, clock: Clock, fake_twilio: FakeTwilioAPI
):
    settings = kyc_settings(database_url, fake_twilio, twilio_timeout_seconds=0.3)
    chat = await english_chat(db, kyc_dialog(db, settings, clock))
    await up_to_consent(chat, PAID_UP[0])
    fake_twilio.delay_next("Messages.json", 3.0)
    assert "could not send the SMS just now" in await chat.send(button="kyc:agree")
    # A send Twilio never confirmed does not count against the limits.
    answer = await chat.send(button="kyc:resend")
    assert "registered mobile 98XXXXXX10" in answer
    assert await count(db, OtpChallenge, OtpChallenge.status == "failed") == 1


async def test_a_number_twilio_calls_invalid_is_not_retried(
    sms_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database
):
    await up_to_consent(sms_chat, PAID_UP[0])
    fake_twilio.fail_next("Messages.json", 400, 21211, "Invalid 'To' Phone Number")
    answer = await sms_chat.send(button="kyc:agree")
    assert "An SMS cannot be sent to 98XXXXXX10" in answer and "1912" in answer
    assert await count(db, OtpChallenge, OtpChallenge.status == "pending") == 0


@pytest.mark.parametrize(("status", "code"), [(401, 20003), (500, 20500), (429, 20429),
                                             (400, 21606)])  # 21606: our "From" is not valid
async def test_a_twilio_failure_asks_the_consumer_to_try_again_later(
    sms_chat: ChatDriver, fake_twilio: FakeTwilioAPI, status: int, code: int
):
    await up_to_consent(sms_chat, PAID_UP[0])
    fake_twilio.fail_next("Messages.json", status, code)
    assert "try again in a few minutes" in await sms_chat.send(button="kyc:agree")


async def test_wrong_credentials_are_refused_by_twilio(
    db: Database, database_url: str, clock: Clock, fake_twilio: FakeTwilioAPI
):
    settings = kyc_settings(database_url, fake_twilio, twilio_auth_token="not-the-token")
    chat = await english_chat(db, kyc_dialog(db, settings, clock))
    await up_to_consent(chat, PAID_UP[0])
    assert "try again in a few minutes" in await chat.send(button="kyc:agree")
    assert fake_twilio.messages() == []


async def complete_over_sms(chat: ChatDriver, fake: FakeTwilioAPI, consumer_no: str,
                            mobile: str) -> None:
    await up_to_consent(chat, consumer_no)
    await chat.send(button="kyc:agree")
    assert "KYC complete" in await chat.send(code_in(fake.messages(to=mobile)[-1].body or ""))


async def test_a_mobile_change_sends_one_code_to_the_old_number_and_one_to_the_new(
    sms_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database
):
    consumer_no, old = PAID_UP
    await complete_over_sms(sms_chat, fake_twilio, consumer_no, old)
    await sms_chat.send(button=f"kyc:mobile:{consumer_no}")
    await sms_chat.send(NEW_MOBILE)
    [otp] = fake_twilio.messages(to=NEW_MOBILE)
    assert "register this number on electricity consumer" in (otp.body or "")
    old_otp = fake_twilio.messages(to=old)[-1]
    assert "allow changing the mobile number" in (old_otp.body or "")
    assert NEW_MOBILE not in (old_otp.body or "")
    await sms_chat.send(code_in(old_otp.body or ""))
    assert "is now 90XXXXXX45" in await sms_chat.send(code_in(otp.body or ""))
    [change] = await rows(db, MobileChange)
    assert change.old_mobile_notified and change.new_mobile == NEW_MOBILE


async def test_when_the_old_numbers_code_cannot_go_nothing_changes_and_it_can_be_sent_again(
    sms_chat: ChatDriver, fake_twilio: FakeTwilioAPI, clock: Clock, db: Database
):
    consumer_no, old = PAID_UP
    await complete_over_sms(sms_chat, fake_twilio, consumer_no, old)
    await sms_chat.send(button=f"kyc:mobile:{consumer_no}")
    sent_before = len(fake_twilio.messages(to=old))
    fake_twilio.fail_next("Messages.json", 503, 20503)  # the old number's code, sent first
    answer = await sms_chat.send(NEW_MOBILE)
    assert "could not" in answer.lower() or "not sent" in answer.lower(), answer
    assert len(fake_twilio.messages(to=old)) == sent_before
    assert "That code did not work" in await sms_chat.send(
        code_in(fake_twilio.messages(to=NEW_MOBILE)[-1].body or ""))
    assert await count(db, MobileChange) == 0
    clock.tick(seconds=61)
    await sms_chat.send("resend")
    await sms_chat.send(code_in(fake_twilio.messages(to=old)[-1].body or ""))
    assert "is now 90XXXXXX45" in await sms_chat.send(
        code_in(fake_twilio.messages(to=NEW_MOBILE)[-1].body or ""))


# --- Twilio Verify ----------------------------------------------------------------------------

@pytest.fixture
async def verify_chat(db: Database, database_url: str, clock: Clock, fake_twilio: FakeTwilioAPI
                      ) -> ChatDriver:
    settings = kyc_settings(database_url, fake_twilio,
                            twilio_verify_service_sid=VERIFY_SERVICE_SID)
    return await english_chat(db, kyc_dialog(db, settings, clock))


async def test_with_verify_twilio_makes_sends_and_checks_the_code(
    verify_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database
):
    consumer_no, mobile = PAID_UP
    await up_to_consent(verify_chat, consumer_no)
    assert "registered mobile 98XXXXXX10" in await verify_chat.send(button="kyc:agree")
    [start] = fake_twilio.requests()
    assert start.path == f"{VERIFY_PATH}/Verifications"
    assert (start.get("To"), start.get("Channel"), start.get("Locale")) == (mobile, "sms", "en")
    assert fake_twilio.messages() == []  # Verify sends its own SMS
    [challenge] = await rows(db, OtpChallenge)
    assert challenge.code_hash is None and (challenge.provider_ref or "").startswith("VE")

    code = fake_twilio.verification_code(mobile)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert "That code did not work" in await verify_chat.send(wrong)
    check = fake_twilio.requests("VerificationCheck")[-1]
    assert (check.get("To"), check.get("Code")) == (mobile, wrong)
    assert "KYC complete" in await verify_chat.send(code)
    assert await count(db, KycRecord) == 1


async def test_with_verify_a_verification_twilio_no_longer_has_is_not_verified(
    verify_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database
):
    await up_to_consent(verify_chat, PAID_UP[0], SAMAGRA_MEMBER)
    await verify_chat.send(button="kyc:agree")
    code = fake_twilio.verification_code(PAID_UP[1])
    fake_twilio.advance(601)  # expired at Twilio: the check answers 404
    assert "That code did not work" in await verify_chat.send(code)
    assert await count(db, KycRecord) == 0


async def test_with_verify_an_unreachable_twilio_does_not_count_a_try(
    verify_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database
):
    await up_to_consent(verify_chat, PAID_UP[0])
    await verify_chat.send(button="kyc:agree")
    code = fake_twilio.verification_code(PAID_UP[1])
    fake_twilio.fail_next("VerificationCheck", 503, 20503)
    assert "could not check the code just now" in await verify_chat.send(code)
    [challenge] = await rows(db, OtpChallenge)
    assert challenge.tries == 0
    assert "KYC complete" in await verify_chat.send(code)


async def test_with_verify_the_code_language_follows_the_chat(
    db: Database, database_url: str, clock: Clock, fake_twilio: FakeTwilioAPI
):
    await seed(db, now=NOW)
    settings = kyc_settings(database_url, fake_twilio,
                            twilio_verify_service_sid=VERIFY_SERVICE_SID)
    chat = ChatDriver(kyc_dialog(db, settings, clock), "hi2")
    await chat.start_in("hi")
    await up_to_consent(chat, PAID_UP[0])
    await chat.send(button="kyc:agree")
    [start] = fake_twilio.requests("Verifications")
    assert start.get("Locale") == "hi"


@pytest.mark.parametrize("problem", [False, True])
async def test_with_verify_a_check_twilio_refuses_as_not_found_is_simply_not_verified(
    verify_chat: ChatDriver, fake_twilio: FakeTwilioAPI, db: Database, problem: bool
):
    await up_to_consent(verify_chat, PAID_UP[0])
    await verify_chat.send(button="kyc:agree")
    code = fake_twilio.verification_code(PAID_UP[1])
    fake_twilio.fail_next("VerificationCheck", 404, 20404, "Not found", problem=problem)
    assert "That code did not work" in await verify_chat.send(code)
    [challenge] = await rows(db, OtpChallenge)
    assert challenge.tries == 1

