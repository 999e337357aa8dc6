"""Use case: a consumer asks what they owe, in Hindi or English, on the channel-neutral dialog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import DEMO_CONSUMERS, demo_consumer_no, seed
from discom.models import Chat, ChatAccount, Consumer
from discom.money import format_inr
from tests.drivers import ChatDriver

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 11:30 IST


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def dialog(db: Database, clock: Clock) -> DialogService:
    await seed(db, now=NOW)
    return DialogService(db, default_language="hi", timeout=timedelta(minutes=15),
                         max_chars=500, clock=clock)


def demo_no(case: str) -> str:
    index = next(i for i, demo in enumerate(DEMO_CONSUMERS) if demo.case == case)
    return demo_consumer_no(index)


def expected_total(case: str) -> int:
    demo = next(d for d in DEMO_CONSUMERS if d.case == case)
    return sum(b[1] for b in demo.bills) + sum(c[1] for c in demo.charges) - demo.paid


DISCONNECTED = "disconnected for non-payment, with charges"


async def test_first_contact_asks_for_the_language_in_both_languages(dialog: DialogService):
    chat = ChatDriver(dialog)
    answer = await chat.send("hello")
    assert "कृपया अपनी भाषा चुनें" in answer
    assert "Please choose your language" in answer
    assert [b.id for b in chat.last[0].flat_buttons] == ["lang:hi", "lang:en"]


async def test_choosing_english_shows_the_menu_of_what_works(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.send("hello")
    answer = await chat.send(button="lang:en")
    assert "What would you like to do?" in answer
    assert [b.id for b in chat.last[-1].flat_buttons] == [
        "menu:dues", "menu:status", "menu:language", "menu:help"]


async def test_what_do_i_owe_asks_for_the_number_then_shows_itemised_dues(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    assert "consumer number" in await chat.send("what do I owe?")
    answer = await chat.send(demo_no(DISCONNECTED))
    assert "Bill for Oct 2026: ₹1,120.00" in answer  # due 22 Nov: October's bill
    assert "Arrears: ₹1,450.00" in answer
    assert "Disconnection and reconnection charges: ₹300.00" in answer
    assert f"Total payable: {format_inr(expected_total(DISCONNECTED))}" in answer
    assert "Due date: 22 Nov 2026 (overdue)" in answer
    assert "disconnected for non-payment since 25 Nov 2026, 11:30 AM" in answer


async def test_dues_are_shown_in_hindi_with_indian_digit_grouping(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("hi")
    await chat.send("बकाया")
    answer = await chat.send(demo_no("CT-operated meter, cannot be switched remotely"))
    assert "कुल देय राशि: ₹4,87,650.00" in answer
    assert "(निकल चुकी है)" in answer
    assert "सप्लाई: चालू" in answer


async def test_the_name_is_masked_and_the_mobile_never_shown(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    answer = await chat.send(f"/dues {demo_no(DISCONNECTED)}")
    assert "M**** P****" in answer
    assert "Meena" not in answer
    assert "98260" not in answer and "12345" not in answer


async def test_devanagari_digits_and_stray_spaces_are_understood(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    devanagari = "१०० ००० ०००४"  # 1000000004
    assert "Total payable" in await chat.send(f"  {devanagari} ")


async def test_an_unknown_number_gets_a_polite_answer_and_the_conversation_continues(
    dialog: DialogService,
):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    assert "could not find consumer number 999999999" in await chat.send("999999999")
    assert "Total payable" in await chat.send(demo_no("overdue by 10 days"))


@pytest.mark.parametrize("typed", ["12", "abc!", "1234567890123456789012345", "🙂🙂🙂🙂🙂🙂"])
async def test_a_malformed_number_is_explained(dialog: DialogService, typed: str):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    assert "6 to 20 letters or digits" in await chat.send(typed)


async def test_three_wrong_numbers_lead_back_to_the_menu(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    await chat.send("abc")
    await chat.send("999999999")
    answer = await chat.send("xyz")
    assert "start again" in answer and "What would you like to do?" in answer
    assert "Sorry, I did not understand" in await chat.send("xyz!")


async def test_a_ten_thousand_character_message_is_refused_and_nothing_changes(
    dialog: DialogService,
):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    assert "at most 500 characters" in await chat.send("4" * 10_000)
    assert "Total payable" in await chat.send(demo_no("overdue by 10 days"))


async def test_an_emoji_gets_a_clear_answer_and_the_menu(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("hi")
    answer = await chat.send("🙏")
    assert "मैं समझ नहीं पाया" in answer and "आप क्या करना चाहेंगे?" in answer


async def test_a_message_without_text_is_answered_in_the_chats_language(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("hi")
    assert "केवल लिखे हुए संदेश" in await chat.send(None)


@pytest.mark.parametrize("word", ["/cancel", "cancel", "रद्द", "menu", "मेनू"])
async def test_cancel_and_menu_always_work(dialog: DialogService, word: str):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    assert "What would you like to do?" in await chat.send(word)
    assert "Sorry, I did not understand" in await chat.send("abcdefgh")


async def test_an_abandoned_conversation_expires_cleanly(dialog: DialogService, clock: Clock):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    clock.now = NOW + timedelta(minutes=16)
    answer = await chat.send(demo_no("paid up"))
    assert "previous request timed out" in answer
    assert "Total payable" not in answer


async def test_a_conversation_within_the_timeout_carries_on(dialog: DialogService, clock: Clock):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await chat.send("/dues")
    clock.now = NOW + timedelta(minutes=14)
    assert "Nothing to pay" in await chat.send(demo_no("paid up"))


async def test_a_typed_menu_number_works_like_the_button(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.send("hello")
    assert "What would you like to do?" in await chat.send("2")  # 2 = English
    assert "consumer number" in await chat.send("1")  # 1 = check dues


async def test_supply_status_shows_the_meter_state(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    answer = await chat.send(f"/status {demo_no('meter armed, press the button to reconnect')}")
    assert "press the button on your meter" in answer
    assert "Total payable" not in answer


async def test_a_paid_bill_says_paid_and_nothing_to_pay(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    answer = await chat.send(f"/dues {demo_no('paid up')}")
    assert "Bill for Nov 2026: ₹845.00 (paid)" in answer and "Nothing to pay" in answer


async def test_a_part_paid_bill_shows_what_remains(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    answer = await chat.send(f"/dues {demo_no('part-paid bill')}")
    assert "Bill for Nov 2026: ₹1,000.00 unpaid of ₹1,500.00" in answer


async def test_overpayment_shows_advance_credit_and_nothing_to_pay(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    answer = await chat.send(f"/dues {demo_no('advance credit after overpaying')}")
    assert "Advance credit: ₹300.00" in answer and "Nothing to pay" in answer


async def test_a_redelivered_message_is_answered_once(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    assert "consumer number" in await chat.send("/dues", delivery_id="update-77")
    assert await chat.send("/dues", delivery_id="update-77") == ""


async def _link(db: Database, chat_ref: str, *consumer_nos: str) -> None:
    async with db.uow() as uow:
        chat_id = await uow.session.scalar(select(Chat.id).where(Chat.external_id == chat_ref))
        for n, no in enumerate(consumer_nos):
            consumer_id = await uow.session.scalar(
                select(Consumer.id).where(Consumer.consumer_no == no))
            uow.session.add(ChatAccount(chat_id=chat_id, consumer_id=consumer_id,
                                        linked_at=NOW + timedelta(seconds=n)))
        await uow.commit()


async def test_a_linked_account_needs_no_consumer_number(dialog: DialogService, db: Database):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await _link(db, chat.chat_ref, demo_no(DISCONNECTED))
    assert "Total payable: ₹2,870.00" in await chat.send(button="menu:dues")


async def test_a_chat_with_several_accounts_chooses_one(dialog: DialogService, db: Database):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    await _link(db, chat.chat_ref, demo_no("paid up"), demo_no(DISCONNECTED))
    assert "Which account?" in await chat.send("/dues")
    assert "Total payable: ₹2,870.00" in await chat.send("2")


async def test_one_chat_cannot_walk_the_consumer_list(dialog: DialogService):
    chat = ChatDriver(dialog)
    await chat.start_in("en")
    for n in range(20):
        await chat.send(f"/dues {1_000_000_001 + n}")
    assert "many consumer numbers in the last hour" in await chat.send("/dues 1000000001")


async def test_chats_are_independent_and_keep_their_own_language(dialog: DialogService):
    hindi, english = ChatDriver(dialog, "a"), ChatDriver(dialog, "b")
    await hindi.start_in("hi")
    await english.start_in("en")
    await hindi.send("/dues")
    assert "What would you like to do?" in await english.send("menu")
    assert "कुल देय राशि" in await hindi.send(demo_no("overdue by 10 days"))
