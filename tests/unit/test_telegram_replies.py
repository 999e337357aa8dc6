"""How a channel-neutral Reply becomes Telegram messages (no network)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup

from bot.channels.telegram_replies import render, split_text, utf16_len
from bot.dialog.messages import Button, Reply

MENU = ((Button("menu:dues", "Check dues"),), (Button("menu:help", "Help"),))


def callback_data(markup: InlineKeyboardMarkup) -> list[list[str]]:
    return [[button.callback_data for button in row] for row in markup.inline_keyboard]


def test_a_short_reply_is_one_plain_message():
    [message] = render(Reply("Total payable: ₹2,870.00 <b>&amp;</b>"))
    assert message.text == "Total payable: ₹2,870.00 <b>&amp;</b>"
    assert message.markup is None and message.photo is None


def test_buttons_become_an_inline_keyboard_row_by_row():
    [message] = render(Reply("What would you like to do?", buttons=MENU))
    assert isinstance(message.markup, InlineKeyboardMarkup)
    assert callback_data(message.markup) == [["menu:dues"], ["menu:help"]]
    assert message.markup.inline_keyboard[0][0].text == "Check dues"


def test_a_button_id_over_64_bytes_is_refused_before_telegram_sees_it():
    with pytest.raises(ValueError, match="64 bytes"):
        render(Reply("?", buttons=((Button("acct:" + "१" * 20, "x"),),)))


def test_a_link_is_appended_to_the_text():
    [message] = render(Reply("Pay here:", link="http://127.0.0.1:8000/pay/abc"))
    assert message.text == "Pay here:\nhttp://127.0.0.1:8000/pay/abc"


def test_a_link_the_text_already_shows_is_not_repeated():
    text = "Total payable: ₹2,870.00\nPay here: https://rzp.io/i/abc"
    [message] = render(Reply(text, link="https://rzp.io/i/abc"))
    assert message.text == text


def test_a_long_text_is_split_with_the_keyboard_on_the_last_part():
    lines = [f"line {n}: " + "बिजली का बिल " * 20 for n in range(60)]
    messages = render(Reply("\n".join(lines), buttons=MENU))
    assert len(messages) > 1
    assert all(utf16_len(m.text) <= 4096 for m in messages)
    assert [m.markup is not None for m in messages] == [False] * (len(messages) - 1) + [True]
    assert all(m.text.startswith("line ") for m in messages)  # cut at line breaks


def test_an_image_carries_a_short_text_as_its_caption():
    [photo] = render(Reply("Scan to pay", buttons=MENU, image_png=b"\x89PNG"))
    assert photo.photo == b"\x89PNG" and photo.text == "Scan to pay"
    assert isinstance(photo.markup, InlineKeyboardMarkup)


def test_an_image_with_a_text_too_long_for_a_caption_is_followed_by_the_text():
    text = "x" * 1500
    photo, message = render(Reply(text, buttons=MENU, image_png=b"\x89PNG"))
    assert photo.photo == b"\x89PNG" and photo.text == "" and photo.markup is None
    assert message.text == text and isinstance(message.markup, InlineKeyboardMarkup)


def test_asking_for_the_contact_shows_a_one_time_share_button():
    [message] = render(Reply("Share your number to link your account", ask_contact=True))
    assert isinstance(message.markup, ReplyKeyboardMarkup)
    [[button]] = message.markup.keyboard
    assert button.request_contact is True
    assert message.markup.one_time_keyboard is True
    assert "Share my mobile number" in button.text and "मोबाइल नंबर" in button.text


def test_contact_and_buttons_together_send_the_contact_button_in_a_second_message():
    text, hint = render(Reply("Share your number, or cancel", buttons=MENU, ask_contact=True))
    assert isinstance(text.markup, InlineKeyboardMarkup)
    assert isinstance(hint.markup, ReplyKeyboardMarkup)
    assert "share your mobile number" in hint.text


def test_an_emoji_counts_twice_against_the_limit():
    assert utf16_len("🙏") == 2
    assert split_text("🙏" * 3, limit=4) == ["🙏🙏", "🙏"]


def test_a_devanagari_word_is_not_cut_between_a_letter_and_its_vowel_sign():
    pieces = split_text("कि" * 10, limit=5)  # क + ि, no spaces to cut at
    assert all(not piece.startswith("\u093f") for piece in pieces)
    assert "".join(pieces) == "कि" * 10


@given(st.text(min_size=0, max_size=400), st.integers(min_value=8, max_value=60))
def test_splitting_keeps_every_visible_character_and_respects_the_limit(text: str, limit: int):
    pieces = split_text(text, limit)
    assert all(utf16_len(piece) <= limit and piece.strip() for piece in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
