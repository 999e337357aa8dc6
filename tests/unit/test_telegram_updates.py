"""Which Telegram updates reach the dialog, and as what (no network)."""

from __future__ import annotations

import pytest
from telegram import Update

from bot.channels.telegram import InvalidUpdate, incoming_from_update, parse_update
from bot.channels.telegram_setup import BOT_COMMANDS, bot_commands
from bot.dialog.engine import COMMANDS
from bot.dialog.messages import Incoming
from bot.locales import LANGUAGES
from tests.fakes.telegram_updates import (
    callback_update,
    contact_update,
    edited_text_update,
    group_chat,
    group_text_update,
    sticker_update,
    text_update,
)

CHAT = 42


def incoming(data: dict) -> Incoming | None:
    return incoming_from_update(Update.de_json(data, None))


def test_a_command_with_its_argument_goes_through_as_text():
    assert incoming(text_update(1, CHAT, "/dues@BijliBot 1000000004")) == Incoming(
        "telegram", "42", text="/dues@BijliBot 1000000004")


def test_a_button_press_goes_through_as_its_id():
    assert incoming(callback_update(1, CHAT, "lang:en")) == Incoming(
        "telegram", "42", button="lang:en")


def test_a_sticker_goes_through_without_text():
    assert incoming(sticker_update(1, CHAT)) == Incoming("telegram", "42")


def test_the_senders_own_contact_carries_the_phone_number():
    assert incoming(contact_update(1, CHAT, "919826012345")) == Incoming(
        "telegram", "42", contact_phone="919826012345")


def test_someone_elses_contact_card_is_not_taken_as_the_senders_number():
    assert incoming(contact_update(1, CHAT, "919826012345", own=False)) == Incoming(
        "telegram", "42")


@pytest.mark.parametrize("update", [
    group_text_update(1, -100123, CHAT, "/dues"),
    edited_text_update(1, CHAT, "/dues"),
    callback_update(1, -100123, "menu:dues", chat=group_chat(-100123)),
    {"update_id": 1},
])
def test_groups_edits_and_other_updates_are_ignored(update: dict):
    assert incoming(update) is None


@pytest.mark.parametrize("body", [
    [], "x", {}, {"update_id": "1"}, {"update_id": True}, {"update_id": 1, "message": 5},
    {"update_id": 1, "message": {"message_id": 1}},
])
def test_a_body_that_is_not_an_update_is_refused(body: object):
    with pytest.raises(InvalidUpdate):
        parse_update(body, None)


def test_the_command_menu_lists_only_commands_the_dialog_knows():
    assert set(BOT_COMMANDS) <= set(COMMANDS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_menu_command_has_a_description_telegram_accepts(language: str):
    for command in bot_commands(language):
        assert 1 <= len(command.description) <= 256
        assert command.command.islower() and len(command.command) <= 32
