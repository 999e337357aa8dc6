"""Use case: people type what they want in their own words — Hindi, English, Hinglish, with
typos and numbers inside — and the chat remembers the numbers it looked up.

The console tests talk to the dialog as a channel does (`ChatDriver`); the Telegram tests post
real Update JSON to the running app and read what the fake Bot API was asked to send; the SMS
test goes through the Twilio webhook and reads the SMS sent back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from api.app import create_app
from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import DEMO_CONSUMERS, demo_consumer_no, seed
from discom.housekeeping import prune_recent_lookups
from discom.identifiers import mask_name
from discom.models import Chat, ChatAccount, Consumer, RecentLookup
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import BijliApp
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_updates import callback_update, text_update
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.twilio_steps import Phone, twilio_settings

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
DUE_SOON = "bill due in 3 days"  # ₹3,456.78, connected
DISCONNECTED = "disconnected for non-payment, with charges"  # ₹2,870.00
PAID_UP = "paid up"


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
    return demo_consumer_no(next(i for i, d in enumerate(DEMO_CONSUMERS) if d.case == case))


def masked(case: str) -> str:
    return mask_name(next(d.name for d in DEMO_CONSUMERS if d.case == case))


async def english_chat(dialog: DialogService, ref: str = "typist") -> ChatDriver:
    chat = ChatDriver(dialog, ref)
    await chat.start_in("en")
    return chat


# --- words are never a consumer number ------------------------------------------------------

async def test_mera_bill_kitna_hai_asks_for_the_number_instead_of_looking_up_the_words(
        dialog: DialogService):
    chat = await english_chat(dialog)

    answer = await chat.send("mera bill kitna hai")

    assert "Please send your consumer number" in answer
    assert "MERABILLKITNAHAI" not in answer and "not find" not in answer


async def test_words_typed_when_a_number_is_asked_for_are_not_taken_as_one(
        dialog: DialogService):
    chat = await english_chat(dialog)
    await chat.send("/dues")

    answer = await chat.send("mera bill kitna hai")

    assert "MERABILLKITNAHAI" not in answer and "not find" not in answer
    assert "Please send your consumer number" in answer


# --- a first message that asks for something is answered at once ---------------------------

async def test_a_first_message_asking_for_dues_is_answered_without_the_language_question(
        dialog: DialogService):
    chat = ChatDriver(dialog, "newcomer")

    answer = await chat.send(f"mera bill kitna hai {demo_no(DUE_SOON)}")

    assert "I will reply in English" in answer and "choose your language" not in answer
    assert f"Consumer {demo_no(DUE_SOON)}" in answer and "Total payable: ₹3,456.78" in answer


async def test_a_first_message_in_devanagari_is_answered_in_hindi(dialog: DialogService):
    chat = ChatDriver(dialog, "naya")

    answer = await chat.send("बिजली कब आएगी")

    assert "मैं हिन्दी में जवाब दूँगा" in answer
    assert "उपभोक्ता क्रमांक" in answer and "Welcome to Bijli" not in answer


async def test_a_first_message_that_asks_for_nothing_gets_the_language_question(
        dialog: DialogService):
    chat = ChatDriver(dialog, "hello")

    answer = await chat.send("asdf qwer")
    again = await chat.send("hmm")

    assert "Please choose your language" in answer and "Please choose your language" in again


# --- free text starts the task it asks for --------------------------------------------------

async def test_a_number_inside_the_text_is_used_with_the_intent(dialog: DialogService):
    chat = await english_chat(dialog)

    dues = await chat.send(f"mera bill kitna hai, number {demo_no(DUE_SOON)}")
    status = await chat.send(f"{demo_no(DISCONNECTED)} ki light kab aayegi")

    assert f"Consumer {demo_no(DUE_SOON)}" in dues and "Total payable: ₹3,456.78" in dues
    assert f"Consumer {demo_no(DISCONNECTED)}" in status
    assert "disconnected for non-payment" in status


async def test_a_number_given_in_a_sentence_answers_the_question(dialog: DialogService):
    chat = await english_chat(dialog)
    assert "Please send your consumer number" in await chat.send("बिजली कब आएगी")

    answer = await chat.send(f"mera number {demo_no(DUE_SOON)} hai")

    assert f"Consumer {demo_no(DUE_SOON)}" in answer and "Supply: connected" in answer


async def test_hindi_free_text_is_answered_in_hindi(dialog: DialogService):
    chat = ChatDriver(dialog, "hindi")
    await chat.start_in("hi")

    asked = await chat.send("बिल बताओ")
    answer = await chat.send(f"मेरा नंबर {demo_no(DUE_SOON)} है")

    assert "उपभोक्ता क्रमांक" in asked
    assert "कुल देय राशि" in answer


async def test_asking_to_pay_in_words_where_payment_is_off_says_so(dialog: DialogService):
    chat = await english_chat(dialog)
    answer = await chat.send("bill pay karna hai")
    assert "not available" in answer and "What would you like to do?" in answer


@pytest.mark.parametrize("message", ["asdf", "meter kharab hai", "kya haal hai", "🙂"])
async def test_what_is_not_understood_gets_the_help_menu_and_does_nothing(
        dialog: DialogService, db: Database, message: str):
    chat = await english_chat(dialog)

    answer = await chat.send(message)

    assert "Sorry, I did not understand" in answer and "What would you like to do?" in answer
    async with db.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(RecentLookup)) == 0


async def test_help_greetings_and_thanks_get_a_friendly_answer(dialog: DialogService):
    chat = await english_chat(dialog)

    assert "Commands:" in await chat.send("madad chahiye")
    assert "What would you like to do?" in await chat.send("namaste ji")
    assert "You're welcome" in await chat.send("dhanyavad")


async def test_asking_for_hindi_in_words_switches_the_language(dialog: DialogService,
                                                               db: Database):
    chat = await english_chat(dialog)

    answer = await chat.send("hindi me baat karo")

    assert "आप क्या करना चाहेंगे?" in answer
    async with db.uow() as uow:
        language = await uow.session.scalar(
            select(Chat.language).where(Chat.external_id == chat.chat_ref))
    assert language == "hi"


# --- the numbers a chat looked up -----------------------------------------------------------

async def test_status_offers_the_number_looked_up_before_instead_of_asking_again(
        dialog: DialogService):
    chat = await english_chat(dialog)
    await chat.send(f"/dues {demo_no(DUE_SOON)}")

    offer = await chat.send("light kab aayegi")
    answer = await chat.send("1")  # the console shows buttons numbered

    assert "Which account?" in offer
    assert f"1. {demo_no(DUE_SOON)} ({masked(DUE_SOON)})" in offer
    assert "2. Another number" in offer
    assert f"Consumer {demo_no(DUE_SOON)}" in answer and "Supply: connected" in answer


async def test_another_number_asks_for_it(dialog: DialogService):
    chat = await english_chat(dialog)
    await chat.send(f"/dues {demo_no(DUE_SOON)}")
    await chat.send("/pay")

    asked = await chat.send(button="acct:other")
    answer = await chat.send(demo_no(PAID_UP))

    assert "Please send your consumer number" in asked
    assert f"Consumer {demo_no(PAID_UP)}" in answer


async def test_linked_accounts_come_first_then_the_latest_lookups(dialog: DialogService,
                                                                  db: Database, clock: Clock):
    chat = await english_chat(dialog)
    await _link(db, chat.chat_ref, demo_no(DISCONNECTED))
    for case in (PAID_UP, DUE_SOON, DISCONNECTED):  # the linked one is offered once, as linked
        clock.now += timedelta(minutes=1)
        await chat.send(f"/dues {demo_no(case)}")

    await chat.send("/dues")

    assert [button.id for button in chat.last[-1].flat_buttons] == [
        f"acct:{demo_no(DISCONNECTED)}", f"acct:{demo_no(DUE_SOON)}",
        f"acct:{demo_no(PAID_UP)}", "acct:other"]


async def test_a_number_is_offered_only_in_the_chat_that_looked_it_up(dialog: DialogService):
    looker = await english_chat(dialog, "looker")
    await looker.send(f"/dues {demo_no(DUE_SOON)}")
    other = await english_chat(dialog, "other")

    asked = await other.send("/status")
    pressed = await other.send(button=f"acct:{demo_no(DUE_SOON)}")

    assert "Please send your consumer number" in asked and demo_no(DUE_SOON) not in asked
    assert "Supply:" not in pressed and "Please send your consumer number" in pressed


async def test_numbers_are_forgotten_after_90_days(dialog: DialogService, db: Database,
                                                   clock: Clock):
    chat = await english_chat(dialog)
    await chat.send(f"/dues {demo_no(DUE_SOON)}")
    clock.now = NOW + timedelta(days=91)

    asked = await chat.send("/dues")
    removed = await prune_recent_lookups(db, clock.now)

    assert "Please send your consumer number" in asked and demo_no(DUE_SOON) not in asked
    assert removed == 1


async def test_a_number_looked_up_within_90_days_is_kept_by_housekeeping(
        dialog: DialogService, db: Database):
    chat = await english_chat(dialog)
    await chat.send(f"/dues {demo_no(DUE_SOON)}")
    assert await prune_recent_lookups(db, NOW + timedelta(days=89)) == 0


async def _link(db: Database, chat_ref: str, consumer_no: str) -> None:
    async with db.uow() as uow:
        chat_id = await uow.session.scalar(select(Chat.id).where(Chat.external_id == chat_ref))
        consumer_id = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == consumer_no))
        uow.session.add(ChatAccount(chat_id=chat_id, consumer_id=consumer_id, linked_at=NOW))
        await uow.commit()


# --- Telegram: the same, with inline buttons ------------------------------------------------

TELEGRAM_SECRET = "free-text-secret"
TELEGRAM_CHAT = 777_000_911


@pytest.fixture
async def telegram(db: Database, database_url: str, fake_telegram: FakeTelegramAPI
                   ) -> AsyncIterator[httpx.AsyncClient]:
    await seed(db)
    settings = Settings(_env_file=None, database_url=database_url,
                        telegram_bot_token=fake_telegram.token,
                        telegram_api_base_url=fake_telegram.base_url,
                        telegram_webhook_secret=TELEGRAM_SECRET)
    app = create_app(settings)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bijli.test"
    ) as client:
        yield client


async def test_on_telegram_free_text_then_the_remembered_number_as_an_inline_button(
        telegram: httpx.AsyncClient, fake_telegram: FakeTelegramAPI):
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    no = demo_no(DISCONNECTED)
    for update in (text_update(1, TELEGRAM_CHAT, "/start"),
                   callback_update(2, TELEGRAM_CHAT, "lang:en"),
                   text_update(3, TELEGRAM_CHAT, f"paisa de diya bijli nahi aayi {no}")):
        assert (await telegram.post("/webhooks/telegram", json=update,
                                    headers=headers)).status_code == 200
    looked_up = "\n".join(m.params["text"] for m in fake_telegram.sent(TELEGRAM_CHAT))
    assert f"Consumer {no}" in looked_up and "disconnected for non-payment" in looked_up

    await telegram.post("/webhooks/telegram", headers=headers,
                        json=text_update(4, TELEGRAM_CHAT, "bill kitna hai"))
    offer = fake_telegram.sent(TELEGRAM_CHAT)[-1]
    keyboard = offer.params["reply_markup"]["inline_keyboard"]
    assert [[b["callback_data"] for b in row] for row in keyboard] == [
        [f"acct:{no}"], ["acct:other"]]
    assert keyboard[0][0]["text"] == f"{no} ({masked(DISCONNECTED)})"

    await telegram.post("/webhooks/telegram", headers=headers,
                        json=callback_update(5, TELEGRAM_CHAT, f"acct:{no}"))
    dues = "\n".join(m.params["text"] for m in fake_telegram.sent(TELEGRAM_CHAT)[-2:])
    assert "Total payable: ₹2,870.00" in dues


# --- SMS: free text is read too ---------------------------------------------------------------

@pytest.fixture
def bijli_settings(db, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI) -> Settings:
    return twilio_settings(database_url, razorpay_server, fake_twilio)


async def test_an_sms_in_hinglish_with_the_number_inside_is_answered(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    phone = Phone(bijli, fake_twilio, "+919300000077", channel="sms")
    no = demo_no(DUE_SOON)

    bill = await phone.ask(f"mera bill kitna hai {no}")
    status = await phone.ask("light kab aayegi")  # the SMS chat remembers the last number
    confused = await phone.ask("mera bill kitna hai abc")

    assert bill.startswith(f"Bijli: Consumer {no}: total payable Rs 3,456.78")
    assert status == f"Bijli: Consumer {no}: supply is on."
    assert "MERABILL" not in confused
