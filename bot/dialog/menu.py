"""The main menu, help, and what to say when a message is not understood."""

from __future__ import annotations

from bot.dialog.messages import Button
from bot.dialog.turn import State, Turn

# (button id, catalog key of its label), in the order shown. Only what works is listed.
MENU_ITEMS = (
    ("menu:dues", "menu.dues"),
    ("menu:pay", "menu.pay"),
    ("menu:status", "menu.status"),
    ("menu:kyc", "menu.kyc"),
    ("menu:language", "menu.language"),
    ("menu:help", "menu.help"),
)


def menu_buttons(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return tuple(
        (turn.button(button_id, key),)
        for button_id, key in MENU_ITEMS
        if (button_id != "menu:pay" or turn.deps.can_pay)
        and (button_id != "menu:kyc" or turn.kyc is not None)
    )


async def show_menu(turn: Turn) -> State:
    """Offer the main menu; the conversation rests here between tasks."""
    turn.say("menu.prompt", buttons=menu_buttons(turn))
    return State.IDLE


async def show_help(turn: Turn) -> State:
    """Explain what Bijli does and where else to get help, then the menu."""
    turn.say("help.text")
    return await show_menu(turn)


async def not_understood(turn: Turn) -> State:
    """A polite 'did not understand' that keeps the conversation going."""
    turn.say("error.not_understood")
    return await show_menu(turn)


async def cancel(turn: Turn) -> State:
    """/cancel: drop whatever was under way."""
    turn.data.clear()
    turn.say("cancel.done")
    return await show_menu(turn)


async def not_available_yet(turn: Turn) -> State:
    """A command whose feature is not switched on in this deployment."""
    turn.say("error.not_available")
    return await show_menu(turn)
