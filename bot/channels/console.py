"""The console channel: the same dialog in a terminal (`bijli chat`), against the local database.

Buttons are shown numbered, as on WhatsApp and SMS; the dialog maps a typed number back to
the button.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.dialog.engine import DialogService
from bot.dialog.messages import Incoming, Reply

CHANNEL = "console"


def render_plain(reply: Reply) -> str:
    """A reply as plain text: its text, a numbered list of its buttons, and its link."""
    lines = [reply.text]
    lines += [f"{n}. {button.label}" for n, button in enumerate(reply.flat_buttons, start=1)]
    if reply.link and reply.link not in reply.text:
        lines.append(reply.link)
    return "\n".join(lines)


async def run_console(
    dialog: DialogService,
    read: Callable[[], Awaitable[str | None]],
    write: Callable[[str], None],
    chat_ref: str = "local",
) -> None:
    """Read lines until end of input, answering each through the dialog."""
    while (line := await read()) is not None:
        if not line.strip():
            continue
        outcome = await dialog.handle(Incoming(channel=CHANNEL, chat_ref=chat_ref, text=line))
        for reply in outcome.replies:
            write(render_plain(reply))
