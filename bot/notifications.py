"""Rendering outbox notes (discom.notify.sender.Note) as replies in the chat's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.dialog.messages import Reply
from bot.locales import translate
from discom.clock import show_datetime
from discom.money import format_inr
from discom.notify.sender import Note


def _values(params: dict[str, Any], language: str) -> dict[str, str]:
    """Format every parameter for display: *_paise as ₹, ISO times in IST, the rest as is."""
    values: dict[str, str] = {}
    for name, value in params.items():
        if name.endswith("_paise") and isinstance(value, int):
            values[name.removesuffix("_paise")] = format_inr(value, language)
        elif name in ("at", "paid_at") and isinstance(value, str):
            values[name] = show_datetime(datetime.fromisoformat(value), language)
        else:
            values[name] = str(value)
    return values


def render_note(note: Note) -> Reply:
    values = _values(note.params, note.language)
    text = translate(note.language, f"notify.{note.kind}", **values)
    link = note.params.get("link_url")
    if link:
        text += "\n" + translate(note.language, "pay.link_line", link=link)
    return Reply(text, link=link)
