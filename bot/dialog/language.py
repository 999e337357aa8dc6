"""Choosing हिन्दी or English: at first contact and from the menu."""

from __future__ import annotations

from bot.dialog.menu import show_menu
from bot.dialog.messages import Button, Reply
from bot.dialog.text import mentions
from bot.dialog.turn import State, Turn
from bot.locales import keywords, translate

CHOICES = ("hi", "en")
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
