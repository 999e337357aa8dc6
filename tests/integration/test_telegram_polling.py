"""Use case: on a laptop (no webhook secret) the bot polls Telegram and answers what it gets."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from api.app import create_app
from discom.db import Database
from discom.demo import seed
from discom.settings import Settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_updates import callback_update, text_update

CHAT = 777_000_222


def polling_settings(database_url: str, fake: FakeTelegramAPI) -> Settings:
    return Settings(_env_file=None, database_url=database_url, telegram_bot_token=fake.token,
                    telegram_api_base_url=fake.base_url)


async def test_a_polled_update_is_answered(
    db: Database, database_url: str, fake_telegram: FakeTelegramAPI
):
    await seed(db)
    app = create_app(polling_settings(database_url, fake_telegram))
    async with LifespanManager(app):
        fake_telegram.push_update(text_update(500, CHAT, "/start"))
        [prompt] = await fake_telegram.wait_for("sendMessage")
        fake_telegram.push_update(callback_update(501, CHAT, "lang:en"))
        await fake_telegram.wait_for("sendMessage", count=3)
    assert "Please choose your language" in prompt.params["text"]
    assert fake_telegram.texts(CHAT)[-1] == "What would you like to do?"
    assert len(fake_telegram.calls("answerCallbackQuery")) == 1
    polls = fake_telegram.calls("getUpdates")
    assert polls[0].params["allowed_updates"] == ["message", "callback_query"]


async def test_polling_removes_a_webhook_first_and_mounts_no_webhook_route(
    db: Database, database_url: str, fake_telegram: FakeTelegramAPI
):
    app = create_app(polling_settings(database_url, fake_telegram))
    async with LifespanManager(app) as manager:
        await fake_telegram.wait_for("getUpdates")
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bijli.test") as client:
            response = await client.post("/webhooks/telegram", json=text_update(1, CHAT, "hi"))
    assert response.status_code == 404
    methods = [call.method for call in fake_telegram.calls()]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
