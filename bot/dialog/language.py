"""Choosing हिन्दी or English: at first contact and from the menu."""

from __future__ import annotations

import re

from bot import intents
from bot.dialog.menu import show_menu
from bot.dialog.messages import Button, Reply
from bot.dialog.text import mentions
from bot.dialog.turn import State, Turn
from bot.locales import keywords, translate

CHOICES = ("hi", "en")
_DEVANAGARI = re.compile("[\u0900-\u097f]")
LANGUAGE_BUTTONS = ((Button("lang:hi", "हिन्दी"),), (Button("lang:en", "English"),))


async def ask_language(turn: Turn) -> State:
    """Ask in both languages, since we may not know which one they read."""
    text = "\n".join(translate(lang, "language.prompt") for lang in ("hi", "en"))
    turn.send(Reply(text, buttons=LANGUAGE_BUTTONS))
    return State.CHOOSING_LANGUAGE


def chosen_language(button: str | None, text: str) -> str | None:
    if button in ("lang:hi", "lang:en"):
        return button.removeprefix("lang:")
    if mentions(text, keywords("language.words_hi")):
        return "hi"
    if mentions(text, keywords("language.words_en")):
        return "en"
    return None


async def on_language_answer(turn: Turn, button: str | None, text: str) -> State:
    """Take the choice and go to the menu; anything else asks again."""
    language = chosen_language(button, text)
    if language is None:
        return await ask_language(turn)
    return await set_language(turn, language)


async def set_language(turn: Turn, language: str) -> State:
    turn.chat.language = language
    turn.chat.language_chosen = True
    turn.say("language.set")
    return await show_menu(turn)


def language_of_request(text: str) -> str | None:
    """The language to answer a first message in when it already asks for something (a task
    or a consumer number): Hindi for Devanagari, English for Latin script (Hinglish readers
    read the English menu; the menu's language item changes it). None: not a request, or an
    answer to the language question ("hindi me")."""
    if chosen_language(None, text):
        return None
    reading = intents.read(text)
    if reading.intent not in intents.ACTIONS and reading.consumer_no is None:
        return None
    if reading.intent == intents.Intent.LANGUAGE:
        return None  # asking about the language is answered by the language question
    return "hi" if _DEVANAGARI.search(text) else "en"


def adopt_language(turn: Turn, language: str) -> None:
    """Answer a first request at once, in `language`, saying how to change it."""
    turn.chat.language = language
    turn.chat.language_chosen = True
    turn.say("language.guessed")
