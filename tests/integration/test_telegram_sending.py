"""Replies the dialog does not produce yet (photos, long texts, the contact button) reach
Telegram in a form it accepts: sent with the real PTB client to the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.channels.telegram_replies import send_replies
from bot.dialog.messages import Button, Reply
from tests.fakes.telegram_api import FakeTelegramAPI

CHAT = 900_000_333
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MENU = ((Button("menu:dues", "Check dues"),),)


@pytest.fixture
async def bot(fake_telegram: FakeTelegramAPI) -> AsyncIterator[Bot]:
    async with Bot(fake_telegram.token, base_url=fake_telegram.base_url) as bot:
        yield bot


async def test_a_qr_code_is_uploaded_as_a_photo_with_its_caption_and_buttons(
    bot: Bot, fake_telegram: FakeTelegramAPI
):
    await send_replies(bot, CHAT, [Reply("Scan to pay ₹2,870.00", buttons=MENU, image_png=PNG)],
                       update_id=1)
    [photo] = fake_telegram.sent(CHAT)
    assert photo.method == "sendPhoto"
    assert photo.params["photo"].content == PNG
    assert photo.params["caption"] == "Scan to pay ₹2,870.00"
    assert photo.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "menu:dues"


async def test_a_text_longer_than_telegram_allows_arrives_in_parts(
    bot: Bot, fake_telegram: FakeTelegramAPI
):
    text = "\n".join(f"{n}. " + "बकाया राशि " * 30 for n in range(40))
    await send_replies(bot, CHAT, [Reply(text, buttons=MENU)], update_id=2)
    sent = fake_telegram.sent(CHAT)
    assert len(sent) > 1 and all(call.method == "sendMessage" for call in sent)
    assert "\n".join(fake_telegram.texts(CHAT)).split() == text.split()
    assert "reply_markup" in sent[-1].params and "reply_markup" not in sent[0].params


async def test_the_contact_button_is_a_one_time_reply_keyboard(
    bot: Bot, fake_telegram: FakeTelegramAPI
):
    await send_replies(bot, CHAT, [Reply("Share your number", ask_contact=True)], update_id=3)
    [message] = fake_telegram.sent(CHAT)
    markup = message.params["reply_markup"]
    assert markup["one_time_keyboard"] is True
    assert markup["keyboard"][0][0]["request_contact"] is True


async def test_after_a_failed_send_the_rest_of_the_turn_is_dropped(
    bot: Bot, fake_telegram: FakeTelegramAPI
):
    fake_telegram.block_next(CHAT)
    await send_replies(bot, CHAT, [Reply("Done"), Reply("What would you like to do?")],
                       update_id=4)
    assert len(fake_telegram.sent(CHAT)) == 1
