"""Use case: KYC on Telegram, end to end.

The whole app runs (FastAPI lifespan, real python-telegram-bot against the fake Bot API, the
real twilio client against the fake Twilio). Telegram's deliveries are real Update JSON posted
to `/webhooks/telegram`; the consumer reads the OTP from the SMS the fake Twilio received.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from discom.db import Database
from discom.demo import seed
from discom.models import ChatAccount, KycRecord, MobileChange, OtpChallenge
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_updates import callback_update, contact_update, text_update
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.kyc_steps import (
    NEW_MOBILE,
    OVERDUE,
    PAID_UP,
    SAMAGRA_MEMBER,
    code_in,
    count,
    kyc_settings,
    rows,
    samagra_of,
)

SECRET = "webhook-secret_for-kyc-tests"
MEENA, ANIL = 555_000_201, 555_000_202


class Telegram:
    """Telegram delivering one consumer's updates to the app, with increasing update ids."""

    _ids = itertools.count(1000)

    def __init__(self, client: httpx.AsyncClient, api: FakeTelegramAPI, chat_id: int) -> None:
        self.client, self.api, self.chat_id = client, api, chat_id

    async def deliver(self, update: dict[str, Any]) -> None:
        response = await self.client.post("/webhooks/telegram", json=update,
                                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status_code == 200

    async def say(self, text: str) -> str:
        before = len(self.api.sent(self.chat_id))
        await self.deliver(text_update(next(self._ids), self.chat_id, text))
        return self._since(before)

    async def press(self, data: str) -> str:
        before = len(self.api.sent(self.chat_id))
        await self.deliver(callback_update(next(self._ids), self.chat_id, data))
        return self._since(before)

    async def share_phone(self, phone: str, *, own: bool = True) -> str:
        before = len(self.api.sent(self.chat_id))
        await self.deliver(contact_update(next(self._ids), self.chat_id, phone, own=own))
        return self._since(before)

    def _since(self, before: int) -> str:
        return "\n".join(self.api.texts(self.chat_id)[before:])

    def last_markup(self) -> dict[str, Any]:
        return self.api.sent(self.chat_id)[-1].params.get("reply_markup") or {}


@pytest.fixture
async def app_client(db: Database, database_url: str, fake_telegram: FakeTelegramAPI,
                     fake_twilio: FakeTwilioAPI) -> AsyncIterator[httpx.AsyncClient]:
    await seed(db)
    settings = kyc_settings(database_url, fake_twilio, telegram_bot_token=fake_telegram.token,
                            telegram_api_base_url=fake_telegram.base_url,
                            telegram_webhook_secret=SECRET)
    app = create_app(settings)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bijli.test"
    ) as client:
        yield client


async def consumer(client: httpx.AsyncClient, api: FakeTelegramAPI, chat_id: int,
                   language: str) -> Telegram:
    telegram = Telegram(client, api, chat_id)
    await telegram.say("/start")
    await telegram.press(f"lang:{language}")
    return telegram


@pytest.mark.parametrize(("language", "asks", "done"), [
    ("en", "Please send your Samagra ID", "KYC complete for consumer"),
    ("hi", "कृपया अपनी समग्र आईडी भेजें", "का केवाईसी पूरा हुआ"),
])
async def test_kyc_on_telegram_links_the_chat(
    app_client: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, fake_twilio: FakeTwilioAPI,
    db: Database, language: str, asks: str, done: str
):
    consumer_no, mobile = PAID_UP
    meena = await consumer(app_client, fake_telegram, MEENA, language)
    await meena.press("menu:kyc")
    assert asks in await meena.say(consumer_no)
    await meena.say(SAMAGRA_MEMBER)
    assert [b["callback_data"] for row in meena.last_markup()["inline_keyboard"] for b in row
            ] == ["kyc:agree", "kyc:decline"]
    sent = await meena.press("kyc:agree")
    assert "98XXXXXX10" in sent
    [sms] = fake_twilio.messages(to=mobile)
    answer = await meena.say(code_in(sms.body or ""))
    assert done in answer and "XXXX0001" in answer and SAMAGRA_MEMBER not in answer
    [record] = await rows(db, KycRecord)
    assert (record.channel, record.consent_language) == ("telegram", language)
    assert await count(db, ChatAccount) == 1


async def test_share_my_number_prefills_the_new_mobile_and_the_code_still_decides(
    app_client: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, fake_twilio: FakeTwilioAPI,
    db: Database
):
    consumer_no, old = PAID_UP
    meena = await consumer(app_client, fake_telegram, MEENA, "en")
    await meena.say(f"/kyc {consumer_no}")
    await meena.say(SAMAGRA_MEMBER)
    await meena.press("kyc:agree")
    await meena.say(code_in(fake_twilio.messages(to=old)[-1].body or ""))

    await meena.press(f"kyc:mobile:{consumer_no}")
    keyboard = meena.last_markup()["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    asked = await meena.share_phone("919000012345")
    assert "Send an OTP to 90XXXXXX45" in asked
    assert fake_twilio.messages(to=NEW_MOBILE) == []  # a share alone sends nothing
    await meena.press("kyc:send_code")
    [otp] = fake_twilio.messages(to=NEW_MOBILE)
    old_otp = fake_twilio.messages(to=old)[-1].body or ""
    assert "allow changing the mobile number" in old_otp
    assert await count(db, MobileChange) == 0  # and changes nothing without the codes
    assert "new number 90XXXXXX45" in await meena.say(code_in(old_otp))
    assert "is now 90XXXXXX45" in await meena.say(code_in(otp.body or ""))


async def test_a_shared_phone_does_not_pass_for_the_otp(
    app_client: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, fake_twilio: FakeTwilioAPI,
    db: Database
):
    meena = await consumer(app_client, fake_telegram, MEENA, "en")
    await meena.say(f"/kyc {PAID_UP[0]}")
    await meena.say(SAMAGRA_MEMBER)
    await meena.press("kyc:agree")
    assert "does not replace the code" in await meena.share_phone(PAID_UP[1].lstrip("+"))
    assert "can only read text" in await meena.share_phone("919000012345", own=False)
    assert await count(db, KycRecord) == 0


async def test_an_otp_for_one_consumer_typed_in_another_chat_does_not_work(
    app_client: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, fake_twilio: FakeTwilioAPI,
    db: Database
):
    meena = await consumer(app_client, fake_telegram, MEENA, "en")
    anil = await consumer(app_client, fake_telegram, ANIL, "en")
    await meena.say(f"/kyc {PAID_UP[0]}")
    await meena.say(SAMAGRA_MEMBER)
    await meena.press("kyc:agree")
    meenas_code = code_in(fake_twilio.messages(to=PAID_UP[1])[-1].body or "")
    await anil.say(f"/kyc {OVERDUE[0]}")
    await anil.say(samagra_of(OVERDUE[0]))
    await anil.press("kyc:agree")
    assert "That code did not work" in await anil.say(meenas_code)
    assert await count(db, ChatAccount) == 0
    assert await count(db, OtpChallenge, OtpChallenge.status == "pending") == 2
    assert "KYC complete" in await meena.say(meenas_code)
