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
from discom.kyc.samagra_simulator import demo_family_id, demo_member_id
from discom.kyc.wiring import kyc_services
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, FakeTwilioAPI

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
# Fixed Fernet keys for tests (never used anywhere else).
KEY = "pRRwz3xvDZSt3GCtwx6T3Ra9tfCLv_7W8WTQ1lm4Ibk="
OLD_KEY = "Q2bsQ0QkGCXb8Zo6AXWAl3XB7xuHn9Pr6PrYY_9cYEk="
# The Samagra simulator's member and family of the first demo consumer (PAID_UP, "Ramesh
# Kumar"); `samagra_of` gives any demo consumer's.
SAMAGRA_MEMBER = demo_member_id(0)
SAMAGRA_FAMILY = demo_family_id(0)
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


def sandbox_code_to(answer: str, masked_mobile: str) -> str:
    """The code in the sandbox SMS shown as sent to `masked_mobile` (an answer may show two)."""
    marker = f"SMS to {masked_mobile}:\n"
    assert marker in answer, answer
    return code_in(answer.split(marker, 1)[1].splitlines()[0])


def family_of(consumer_no: str) -> str:
    """The simulator's Samagra family ID of a demo consumer."""
    return demo_family_id(int(consumer_no) - int(PAID_UP[0]))


async def change_mobile_steps(chat: ChatDriver, consumer_no: str, old_masked: str,
                              new_mobile: str = NEW_MOBILE) -> str:
    """A linked chat changes the mobile: the old number's code, then the new number's.
    Returns the last answer."""
    await chat.send(button=f"kyc:mobile:{consumer_no}")
    sent = await chat.send(new_mobile)
    new_masked = f"{new_mobile[3:5]}XXXXXX{new_mobile[-2:]}"
    await chat.send(sandbox_code_to(sent, old_masked))
    return await chat.send(sandbox_code_to(sent, new_masked))


async def add_bank_account(chat: ChatDriver, consumer_no: str, account_no: str = ACCOUNT_NO,
                           ifsc: str = IFSC) -> str:
    """A linked chat gives a bank account and confirms it with the registered mobile's code."""
    await chat.send(button=f"kyc:bank:{consumer_no}")
    await chat.send(account_no)
    await chat.send(account_no)
    sent = await chat.send(ifsc)
    return await chat.send(sandbox_code(sent))


def samagra_of(consumer_no: str) -> str:
    """The simulator's Samagra member ID of a demo consumer."""
    return demo_member_id(int(consumer_no) - int(PAID_UP[0]))


async def up_to_consent(chat: ChatDriver, consumer_no: str, samagra: str | None = None
                        ) -> str:
    await chat.send(f"/kyc {consumer_no}")
    return await chat.send(samagra or samagra_of(consumer_no))


async def ask_code(chat: ChatDriver, consumer_no: str, samagra: str | None = None) -> str:
    """Through to the OTP being sent; returns the answer (the sandbox shows the SMS)."""
    await up_to_consent(chat, consumer_no, samagra)
    return await chat.send(button="kyc:agree")


async def complete_kyc(chat: ChatDriver, consumer_no: str, samagra: str | None = None
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
