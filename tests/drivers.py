"""Test drivers: talk to the dialog the way a channel does, and read the replies as text."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.channels.console import render_plain
from bot.dialog.engine import DialogService
from bot.dialog.messages import Incoming, Reply


@dataclass
class ChatDriver:
    """One consumer's chat on the console channel."""

    dialog: DialogService
    chat_ref: str = "tester"
    channel: str = "console"
    last: list[Reply] = field(default_factory=list)

    async def send(self, text: str | None = None, *, button: str | None = None,
                   delivery_id: str | None = None) -> str:
        """Send one message; return all replies rendered as the console shows them."""
        incoming = Incoming(self.channel, self.chat_ref, text=text, button=button)
        outcome = await self.dialog.handle(incoming, delivery_id=delivery_id)
        self.last = outcome.replies
        return "\n".join(render_plain(reply) for reply in outcome.replies)

    async def start_in(self, language: str) -> None:
        """First contact, then choose the language."""
        await self.send("hello")
        await self.send(button=f"lang:{language}")
