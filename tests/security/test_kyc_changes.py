"""Issue 10, High 2: a linked chat must not take over the account's mobile or bank account.

A new mobile needs the old registered number's code as well as the new number's (who lost
the old number gets a staff review, not a change); a bank account needs the registered
mobile's code, and the registered mobile is told by SMS (through the outbox) after every
change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.dialog.engine import DialogService
from bot.notifications import render_sms
from discom.db import Database
from discom.demo import seed
from discom.models import BankAccount, Chat, Consumer, KycReview, MobileChange, OutboundMessage
from discom.notify.routing import Routing, configure_routing
from discom.notify.sender import Note
from tests.drivers import ChatDriver
from tests.kyc_steps import (
    ACCOUNT_NO,
    IFSC,
    NEW_MOBILE,
    NOW,
    PAID_UP,
    Clock,
    complete_kyc,
    count,
    kyc_dialog,
    kyc_settings,
    rows,
    sandbox_code,
    sandbox_code_to,
)

NOT_VALID = "That code did not work"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def dialog(db: Database, database_url: str, clock: Clock) -> DialogService:
    await seed(db, now=NOW)
    configure_routing(db, Routing(sms_fallback=True))  # SMS is configured (Twilio)
    return kyc_dialog(db, kyc_settings(database_url), clock)


@pytest.fixture
async def linked(dialog: DialogService) -> ChatDriver:
    chat = ChatDriver(dialog, "holder")
    await chat.start_in("en")
    assert "KYC complete" in await complete_kyc(chat, PAID_UP[0])
    return chat


async def registered_mobile(db: Database) -> str | None:
    async with db.uow() as uow:
        return await uow.session.scalar(select(Consumer.mobile).where(
            Consumer.consumer_no == PAID_UP[0]))


# --- the mobile -------------------------------------------------------------------------------

async def test_the_new_numbers_code_alone_does_not_change_the_mobile(
    linked: ChatDriver, db: Database
):
    await linked.send(button=f"kyc:mobile:{PAID_UP[0]}")
    sent = await linked.send(NEW_MOBILE)
    assert "registered number 98XXXXXX10" in sent  # a code goes to the old number too
    assert NOT_VALID in await linked.send(sandbox_code_to(sent, "90XXXXXX45"))
    assert await registered_mobile(db) == PAID_UP[1]
    assert await count(db, MobileChange) == 0


async def test_the_old_numbers_code_alone_does_not_change_the_mobile(
    linked: ChatDriver, db: Database
):
    await linked.send(button=f"kyc:mobile:{PAID_UP[0]}")
    sent = await linked.send(NEW_MOBILE)
    await linked.send(sandbox_code_to(sent, "98XXXXXX10"))
    assert NOT_VALID in await linked.send("000000")
    await linked.send("menu")
    assert await registered_mobile(db) == PAID_UP[1]
    assert await count(db, MobileChange) == 0


async def test_both_codes_change_the_mobile(linked: ChatDriver, db: Database):
    await linked.send(button=f"kyc:mobile:{PAID_UP[0]}")
    sent = await linked.send(NEW_MOBILE)
    await linked.send(sandbox_code_to(sent, "98XXXXXX10"))
    assert "is now 90XXXXXX45" in await linked.send(sandbox_code_to(sent, "90XXXXXX45"))
    assert await registered_mobile(db) == NEW_MOBILE


async def test_a_lost_old_number_asks_staff_and_changes_nothing(linked: ChatDriver, db: Database):
    await linked.send(button=f"kyc:mobile:{PAID_UP[0]}")
    await linked.send(NEW_MOBILE)
    assert "discom officer will review" in await linked.send(button=f"kyc:lost:{PAID_UP[0]}")
    [review] = await rows(db, KycReview)
    assert (review.kind, review.status) == ("lost_mobile", "pending")
    assert await registered_mobile(db) == PAID_UP[1]


async def test_an_unlinked_chat_cannot_ask_for_a_lost_mobile_review(
    dialog: DialogService, db: Database
):
    stranger = ChatDriver(dialog, "stranger")
    await stranger.start_in("en")
    assert "not linked" in await stranger.send(button=f"kyc:lost:{PAID_UP[0]}")
    assert await count(db, KycReview) == 0


# --- the bank account -------------------------------------------------------------------------

async def test_a_bank_account_needs_the_registered_mobiles_code(linked: ChatDriver, db: Database):
    await linked.send(button=f"kyc:bank:{PAID_UP[0]}")
    await linked.send(ACCOUNT_NO)
    await linked.send(ACCOUNT_NO)
    sent = await linked.send(IFSC)
    assert "registered mobile 98XXXXXX10" in sent and "SMS to 98XXXXXX10" in sent
    assert NOT_VALID in await linked.send("000000")
    assert await count(db, BankAccount) == 0
    assert "is saved" in await linked.send(sandbox_code(sent))
    assert await count(db, BankAccount) == 1


async def test_every_bank_account_change_is_told_to_the_registered_mobile_by_sms(
    linked: ChatDriver, clock: Clock, db: Database
):
    for account in (ACCOUNT_NO, "998877665544"):
        clock.tick(seconds=61)
        await linked.send(button=f"kyc:bank:{PAID_UP[0]}")
        await linked.send(account)
        await linked.send(account)
        assert "is saved" in await linked.send(sandbox_code(await linked.send(IFSC)))
    async with db.uow() as uow:
        notices = (await uow.session.execute(
            select(OutboundMessage, Chat).join(Chat, Chat.id == OutboundMessage.chat_id)
            .where(OutboundMessage.kind == "bank_account_changed")
            .order_by(OutboundMessage.id))).all()
    assert [(chat.channel, chat.external_id) for _, chat in notices] == [
        ("sms", PAID_UP[1]), ("sms", PAID_UP[1])]
    texts = [render_sms(Note(m.id, "sms", PAID_UP[1], "en", m.kind, m.params))
             for m, _ in notices]
    assert "XXXX7890" in texts[0] and "XXXX5544" in texts[1]
    assert all(f"electricity consumer {PAID_UP[0]}" in text and "call 1912" in text
               for text in texts)
    assert all(ACCOUNT_NO not in text and "998877665544" not in text for text in texts)
