"""Issue 10, Privacy: mobile numbers are kept only as long as needed.

Housekeeping deletes OTP challenges after OTP_RETENTION_DAYS (but not the one a KYC record
or a mobile change cites as its proof), mobile-change records after
MOBILE_CHANGE_RETENTION_DAYS, and per-consumer look-ups after a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from discom.db import Database
from discom.demo import seed
from discom.housekeeping import prune_personal_data
from discom.models import ConsumerLookup, KycRecord, MobileChange, OtpChallenge
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.kyc_steps import (
    DUE_SOON,
    NOW,
    PAID_UP,
    Clock,
    change_mobile_steps,
    complete_kyc,
    count,
    kyc_dialog,
    kyc_settings,
    rows,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return kyc_settings(database_url, otp_retention_days=30, mobile_change_retention_days=365)


@pytest.fixture
async def chat(db: Database, settings: Settings, clock: Clock) -> ChatDriver:
    await seed(db, now=NOW)
    driver = ChatDriver(kyc_dialog(db, settings, clock), "r")
    await driver.start_in("en")
    return driver


async def test_old_otp_challenges_go_but_the_proof_of_a_kyc_stays(
    chat: ChatDriver, clock: Clock, db: Database, settings: Settings
):
    await chat.send(f"/kyc {DUE_SOON[0]}")  # a code asked for and never typed
    await chat.send(f"{700_000_002}")
    await chat.send(button="kyc:agree")
    clock.tick(minutes=2)
    await complete_kyc(chat, PAID_UP[0])
    assert await count(db, OtpChallenge) == 2

    await prune_personal_data(db, settings, clock.now + timedelta(days=29))
    assert await count(db, OtpChallenge) == 2
    await prune_personal_data(db, settings, clock.now + timedelta(days=31))
    [kept] = await rows(db, OtpChallenge)
    [record] = await rows(db, KycRecord)
    assert record.otp_challenge_id == kept.id


async def test_mobile_changes_go_after_their_retention_and_their_codes_with_them(
    chat: ChatDriver, clock: Clock, db: Database, settings: Settings
):
    await complete_kyc(chat, PAID_UP[0])
    clock.tick(minutes=2)
    assert "is now" in await change_mobile_steps(chat, PAID_UP[0], "98XXXXXX10")
    assert await count(db, MobileChange) == 1 and await count(db, OtpChallenge) == 3

    await prune_personal_data(db, settings, clock.now + timedelta(days=31))
    assert await count(db, MobileChange) == 1  # still within its year
    assert await count(db, OtpChallenge) == 2  # the KYC's and the change's proofs
    await prune_personal_data(db, settings, clock.now + timedelta(days=366))
    assert await count(db, MobileChange) == 0
    assert await count(db, OtpChallenge) == 1  # only the KYC record's proof is left
    assert await count(db, KycRecord) == 1


async def test_lookups_are_forgotten_after_a_day(
    chat: ChatDriver, clock: Clock, db: Database, settings: Settings
):
    await chat.send(f"/dues {DUE_SOON[0]}")
    assert await count(db, ConsumerLookup) == 1
    await prune_personal_data(db, settings, clock.now + timedelta(hours=23))
    assert await count(db, ConsumerLookup) == 1
    await prune_personal_data(db, settings, clock.now + timedelta(hours=25))
    assert await count(db, ConsumerLookup) == 0
