"""Free text, read by `bot.intents`: what it starts, and the answers that start nothing.

A reading with an action becomes the command a button would have sent ("bill kitna hai
1000000004" is `/dues 1000000004`), so typed and pressed requests go the same way. What is
not understood gets the help menu — never a guess at an action.
"""

from __future__ import annotations

from bot.dialog import dues, language, menu
from bot.dialog.turn import State, Turn
from bot.intents import Intent, Reading

LOOKUPS = (Intent.DUES, Intent.PAY, Intent.STATUS)
# Free text that starts a new task even while a consumer number is awaited.
SWITCHES = (*LOOKUPS, Intent.KYC, Intent.LANGUAGE, Intent.HELP)


def command_for(turn: Turn, reading: Reading, text: str) -> str | None:
    """The command the text amounts to in this state, or None when it starts nothing new."""
    intent, number = reading.intent, reading.consumer_no or ""
    if turn.state == State.AWAITING_CONSUMER_NO:
        # "1000000004" or "mera number 1000000004 hai" answers the question (see `answer`).
        if number and intent not in LOOKUPS:
            return None
        if intent not in SWITCHES:
            return None
    if intent is None and number:
        intent = Intent(turn.data.get("purpose", Intent.DUES))
    if intent in (*LOOKUPS, Intent.KYC):
        return f"/{intent} {number}".rstrip()
    if intent == Intent.LANGUAGE:
        return f"/language {language.chosen_language(None, text) or ''}".rstrip()
    if intent == Intent.HELP:
        return "/help"
    return None


async def answer(turn: Turn, reading: Reading, text: str) -> State:
    """Text that starts no command: an answer to "which consumer number?", thanks, or a
    message not understood."""
    if turn.state == State.AWAITING_CONSUMER_NO:
        return await dues.on_consumer_no(turn, reading.consumer_no or text)
    if reading.intent == Intent.THANKS:
        turn.say("thanks.reply")
        return await menu.show_menu(turn)
    return await menu.not_understood(turn)
