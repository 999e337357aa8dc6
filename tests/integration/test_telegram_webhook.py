"""Use case: consumers talk to Bijli on Telegram in webhook mode.

The whole app runs (FastAPI lifespan, real python-telegram-bot, the dialog, the database);
Telegram is the fake Bot API server, and Telegram's deliveries are real Update JSON posted to
`/webhooks/telegram`. What the consumer sees is what the fake recorded as sent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from telegram.error import InvalidToken

from api.app import create_app
from api.composition import build_services
from discom.db import Database
from discom.demo import DEMO_CONSUMERS, demo_consumer_no, seed
from discom.models import Chat, InboundEvent
from discom.money import format_inr
from discom.settings import Settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_updates import (
    callback_update,
    edited_text_update,
    group_text_update,
    sticker_update,
    text_update,
)

SECRET = "webhook-secret_for-tests-1"
CHAT = 555_000_111
PATH = "/webhooks/telegram"
DISCONNECTED = "disconnected for non-payment, with charges"


def telegram_settings(database_url: str, fake: FakeTelegramAPI, **overrides: object) -> Settings:
    values = {"database_url": database_url, "telegram_bot_token": fake.token,
              "telegram_api_base_url": fake.base_url, "telegram_webhook_secret": SECRET,
              **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture
async def bijli(db: Database, database_url: str, fake_telegram: FakeTelegramAPI
                ) -> AsyncIterator[httpx.AsyncClient]:
    """The running app (lifespan started) with the demo consumers, as Telegram reaches it."""
    await seed(db)
    app = create_app(telegram_settings(database_url, fake_telegram))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bijli.test") as client:
            yield client


async def deliver(client: httpx.AsyncClient, update: dict, secret: str | None = SECRET
                  ) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return await client.post(PATH, json=update, headers=headers)


async def start_in_english(client: httpx.AsyncClient, chat: int = CHAT) -> None:
    assert (await deliver(client, text_update(1, chat, "/start"))).status_code == 200
    assert (await deliver(client, callback_update(2, chat, "lang:en"))).status_code == 200


def button_ids(markup: dict) -> list[str]:
    return [button["callback_data"] for row in markup["inline_keyboard"] for button in row]


def demo(case: str) -> tuple[str, int]:
    """A demo consumer's number and the total it owes, from the demo data itself."""
    index, consumer = next((i, d) for i, d in enumerate(DEMO_CONSUMERS) if d.case == case)
    owed = sum(bill[1] for bill in consumer.bills) + sum(c[1] for c in consumer.charges)
    return demo_consumer_no(index), owed - consumer.paid


async def count(db: Database, model: type) -> int:
    async with db.uow() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model))


async def test_start_asks_for_the_language_with_an_inline_keyboard(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    response = await deliver(bijli, text_update(10, CHAT, "/start"))
    assert response.status_code == 200
    [sent] = fake_telegram.sent(CHAT)
    assert "कृपया अपनी भाषा चुनें" in sent.params["text"]
    assert "Please choose your language" in sent.params["text"]
    assert button_ids(sent.params["reply_markup"]) == ["lang:hi", "lang:en"]
    assert "parse_mode" not in sent.params


async def test_pressing_english_acknowledges_the_button_and_shows_the_menu(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    await deliver(bijli, text_update(10, CHAT, "/start"))
    press = callback_update(11, CHAT, "lang:en")
    assert (await deliver(bijli, press)).status_code == 200
    [answered] = fake_telegram.calls("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    *_, menu = fake_telegram.sent(CHAT)
    assert menu.params["text"] == "What would you like to do?"
    assert button_ids(menu.params["reply_markup"]) == [
        "menu:dues", "menu:pay", "menu:status", "menu:kyc", "menu:language", "menu:help"]


@pytest.mark.parametrize("command", ["/dues", "/dues@BijliTestBot"])
async def test_dues_for_a_consumer_number_show_the_total_payable(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, command: str
):
    consumer_no, total = demo(DISCONNECTED)
    await start_in_english(bijli)
    await deliver(bijli, text_update(12, CHAT, f"{command} {consumer_no}"))
    dues = fake_telegram.texts(CHAT)[-2]
    assert f"Consumer {consumer_no} (M**** P****)" in dues
    assert f"Total payable: {format_inr(total)}" in dues
    assert "disconnected for non-payment" in dues


async def test_a_redelivered_update_is_answered_once(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    update = text_update(20, CHAT, "/start")
    assert (await deliver(bijli, update)).status_code == 200
    assert (await deliver(bijli, update)).status_code == 200
    assert len(fake_telegram.sent(CHAT)) == 1


@pytest.mark.parametrize("secret", ["wrong-secret", SECRET + "x", "", None])
async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_written(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, db: Database, secret: str | None
):
    response = await deliver(bijli, text_update(30, CHAT, "/start"), secret=secret)
    assert response.status_code == 403
    assert fake_telegram.sent(CHAT) == []
    assert await count(db, InboundEvent) == 0
    assert await count(db, Chat) == 0


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"\xff\xfe\x00", b"[1, 2]", b'"update"', b"{}",
    b'{"update_id": "31"}', b'{"update_id": true}', b'{"update_id": 31, "message": "hi"}',
    b'{"update_id": 31, "message": {"text": "hi"}}',
])
async def test_a_body_that_is_not_an_update_is_a_bad_request(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, db: Database, body: bytes
):
    response = await bijli.post(PATH, content=body, headers={
        "X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert fake_telegram.calls("sendMessage") == []
    assert await count(db, InboundEvent) == 0


async def test_a_body_over_a_megabyte_is_refused_before_it_is_parsed(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, db: Database
):
    update = text_update(32, CHAT, "/start")
    update["padding"] = "x" * 1_100_000
    response = await deliver(bijli, update)
    assert response.status_code == 413
    assert fake_telegram.sent(CHAT) == []
    assert await count(db, InboundEvent) == 0


async def test_a_new_chat_is_in_hindi_and_a_sticker_gets_a_text_only_answer(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, db: Database
):
    assert (await deliver(bijli, sticker_update(40, CHAT))).status_code == 200
    assert fake_telegram.texts(CHAT) == [
        "मैं केवल लिखे हुए संदेश पढ़ सकता हूँ। कृपया अपना अनुरोध लिखकर भेजें।"]
    async with db.uow() as uow:
        chats = (await uow.session.execute(
            select(Chat.channel, Chat.external_id, Chat.language))).all()
    assert [tuple(chat) for chat in chats] == [("telegram", str(CHAT), "hi")]


async def test_choosing_hindi_gives_the_menu_in_hindi(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    await deliver(bijli, text_update(41, CHAT, "/start"))
    await deliver(bijli, callback_update(42, CHAT, "lang:hi"))
    assert fake_telegram.texts(CHAT)[-1] == "आप क्या करना चाहेंगे?"


async def test_a_user_who_blocked_the_bot_does_not_break_the_webhook(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    fake_telegram.block_next(CHAT)
    assert (await deliver(bijli, text_update(50, CHAT, "/start"))).status_code == 200
    assert len(fake_telegram.calls("sendMessage")) == 1  # tried, and refused with 403
    assert (await deliver(bijli, callback_update(51, CHAT, "lang:en"))).status_code == 200
    assert fake_telegram.texts(CHAT)[-1] == "What would you like to do?"


# PTB's own RetryAfter warns about its future timedelta type, whoever reads it.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_flood_limit_drops_the_reply_and_the_next_update_is_answered(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    fake_telegram.rate_limit_next(CHAT, retry_after=30)
    await deliver(bijli, text_update(52, CHAT, "/start"))
    await deliver(bijli, callback_update(53, CHAT, "lang:en"))
    # The 429 stopped the first turn's reply; the language choice still went through.
    assert fake_telegram.texts(CHAT)[-1] == "What would you like to do?"
    assert len(fake_telegram.calls("sendMessage")) == 3


async def test_group_messages_and_edits_are_ignored_silently(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, db: Database
):
    group = -1_001_234_567_890
    assert (await deliver(bijli, group_text_update(60, group, CHAT, "/dues"))).status_code == 200
    assert (await deliver(bijli, edited_text_update(61, CHAT, "/dues"))).status_code == 200
    press = callback_update(62, group, "menu:dues", chat={"id": group, "type": "supergroup",
                                                          "title": "Colony residents"})
    assert (await deliver(bijli, press)).status_code == 200
    assert fake_telegram.calls("sendMessage") == []
    assert len(fake_telegram.calls("answerCallbackQuery")) == 1  # the spinner still stops
    assert await count(db, Chat) == 0


async def test_the_app_checks_its_token_at_start_and_leaves_the_webhook_alone(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI
):
    assert [call.method for call in fake_telegram.calls()] == ["getMe"]


async def test_the_bot_token_never_reaches_the_logs(
    bijli: httpx.AsyncClient, fake_telegram: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.DEBUG):
        await deliver(bijli, text_update(65, CHAT, "/start"))
    assert "sendMessage" in caplog.text  # httpx logged the request...
    assert fake_telegram.token not in caplog.text  # ...without the token in its URL


async def test_a_wrong_token_stops_the_app_from_starting(
    database_url: str, fake_telegram: FakeTelegramAPI
):
    app = create_app(telegram_settings(database_url, fake_telegram,
                                       telegram_bot_token="987654321:not-our-bot"))
    with pytest.raises(InvalidToken):
        async with LifespanManager(app):
            pass


async def test_a_failing_dialog_answers_500_so_telegram_delivers_again(
    database_url: str, fake_telegram: FakeTelegramAPI, tmp_path: Path
):
    settings = telegram_settings(database_url, fake_telegram)
    # A database without Bijli's tables: every turn fails and is rolled back.
    broken = build_services(telegram_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
                                              fake_telegram))
    app = create_app(settings, services=broken)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bijli.test") as client:
            response = await deliver(client, text_update(70, CHAT, "/start"))
    assert response.status_code == 500
    assert fake_telegram.calls("sendMessage") == []


async def test_without_telegram_settings_nothing_starts_and_the_webhook_is_absent(
    db: Database, database_url: str, fake_telegram: FakeTelegramAPI
):
    app = create_app(Settings(_env_file=None, database_url=database_url))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bijli.test") as client:
            response = await deliver(client, text_update(80, CHAT, "/start"))
    assert response.status_code == 404
    assert fake_telegram.calls() == []
    assert await count(db, InboundEvent) == 0
