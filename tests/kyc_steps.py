"""What KYC tests share: a clock, the dialog wired as the composition root wires it, and the
steps of a KYC as a consumer takes them (reading the code from what they were sent)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.dialog.engine import DialogService
from bot.dialog.messages import Incoming
from discom.db import Database
from discom.demo import DEMO_CONSUMERS, demo_consumer_no
from discom.kyc.wiring import kyc_services
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, FakeTwilioAPI

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
# Fixed Fernet keys for tests (never used anywhere else).
KEY = "pRRwz3xvDZSt3GCtwx6T3Ra9tfCLv_7W8WTQ1lm4Ibk="
OLD_KEY = "Q2bsQ0QkGCXb8Zo6AXWAl3XB7xuHn9Pr6PrYY_9cYEk="
SAMAGRA_MEMBER = "123456789"
SAMAGRA_FAMILY = "87654321"
ACCOUNT_NO = "001234567890"
IFSC = "SBIN0001234"
NEW_MOBILE = "+919000012345"
_CODE = re.compile(r"(?<![0-9])([0-9]{6})(?![0-9])")


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def demo(case: str) -> tuple[str, str | None]:
    """A demo consumer's number and registered mobile."""
    index, consumer = next((i, d) for i, d in enumerate(DEMO_CONSUMERS) if d.case == case)
    return demo_consumer_no(index), consumer.mobile


PAID_UP = demo("paid up")  # 1000000001, +919876543210
DUE_SOON = demo("bill due in 3 days")
OVERDUE = demo("overdue by 10 days")
NO_MOBILE = demo("no registered mobile")


def kyc_settings(database_url: str, twilio: FakeTwilioAPI | None = None, **overrides: Any
                 ) -> Settings:
    """Settings as a deployment has them: the sandbox, or Twilio pointed at the fake."""
    values: dict[str, Any] = {"database_url": database_url, "data_encryption_key": KEY,
                              "bijli_env": "test"}
    if twilio is not None:
        values.update(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                      twilio_api_base_url=twilio.base_url, twilio_verify_base_url=twilio.base_url,
                      twilio_sms_from=SMS_FROM, twilio_timeout_seconds=2.0,
                      twilio_dlt_template_ids={"otp": "1107000000000000001",
                                               "mobile_changed": "1107000000000000002"})
    return Settings(_env_file=None, **{**values, **overrides})


def kyc_dialog(db: Database, settings: Settings, clock: Clock) -> DialogService:
    return DialogService(db, default_language="hi", timeout=timedelta(minutes=15),
                         max_chars=500, clock=clock, kyc=kyc_services(settings))


def code_in(text: str) -> str:
    """The 6-digit code in an SMS (or in the console's sandbox copy of it)."""
    found = _CODE.findall(text)
    assert found, f"no code in {text!r}"
    return found[-1]


def sandbox_code(answer: str) -> str:
    """The code in the sandbox SMS the console shows."""
    assert "SANDBOX" in answer or "सैंडबॉक्स" in answer, answer
    return code_in(answer.split(":\n", 1)[1].splitlines()[0])


async def up_to_consent(chat: ChatDriver, consumer_no: str, samagra: str = SAMAGRA_MEMBER
                        ) -> str:
    await chat.send(f"/kyc {consumer_no}")
    return await chat.send(samagra)


async def ask_code(chat: ChatDriver, consumer_no: str, samagra: str = SAMAGRA_MEMBER) -> str:
    """Through to the OTP being sent; returns the answer (the sandbox shows the SMS)."""
    await up_to_consent(chat, consumer_no, samagra)
    return await chat.send(button="kyc:agree")


async def complete_kyc(chat: ChatDriver, consumer_no: str, samagra: str = SAMAGRA_MEMBER
                       ) -> str:
    """A whole KYC on the sandbox (the code read from the console's copy of the SMS)."""
    answer = await ask_code(chat, consumer_no, samagra)
    return await chat.send(sandbox_code(answer))


async def share_contact(dialog: DialogService, chat_ref: str, phone: str,
                        channel: str = "console") -> str:
    """What a channel hands the dialog when the consumer shares their own phone number."""
    from bot.channels.console import render_plain

    outcome = await dialog.handle(Incoming(channel, chat_ref, contact_phone=phone))
    return "\n".join(render_plain(reply) for reply in outcome.replies)


async def count(db: Database, model: type, *where: Any) -> int:
    async with db.uow() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model).where(*where))


async def rows(db: Database, model: type, *where: Any) -> list[Any]:
    async with db.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where)
                                                .order_by(model.id))).all())
