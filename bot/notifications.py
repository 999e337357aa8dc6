"""Rendering outbox notes (discom.notify.sender.Note) in the chat's language, per channel.

- chat channels (Telegram, WhatsApp inside its 24-hour window, the console): `render_note`,
  the catalog's `notify.<kind>` text and the payment link;
- SMS: `render_sms`, the compact `sms.<kind>` text (one or two segments, see
  tests/unit/test_sms_texts.py), amounts as "Rs" in English so the text stays GSM-7;
- WhatsApp outside the window: an approved template, filled by `template_variables` in the
  order `TEMPLATE_VARIABLES` gives — register each template's {{1}}, {{2}}... to match.

A note of kind "reply" (a dialog's answer queued for a chat) carries its text ready-made.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.channels.sms_text import sms_amount
from bot.dialog.messages import Reply
from bot.locales import translate
from discom.clock import show_date, show_datetime
from discom.money import format_inr
from discom.notify.sender import Note

REPLY = "reply"

# WhatsApp template variables, {{1}}, {{2}}, ... in this order, per notification kind.
TEMPLATE_VARIABLES: dict[str, tuple[str, ...]] = {
    "bill_due": ("consumer_no", "amount", "due_date"),
    "overdue_notice": ("consumer_no", "amount", "due_date", "disconnect_on"),
    "disconnected": ("meter_id", "total", "link_url"),
    "payment_received": ("amount", "paid_at", "receipt"),
    "payment_partial": ("remaining", "link_url"),
    "payment_advance": ("advance",),
    "payment_failed": (),
    "reconnection_started": ("meter_id",),
    "supply_restored": ("meter_id", "at"),
    "meter_armed": ("meter_id",),
    "reconnection_delayed": (),
    "field_reconnection": ("meter_id",),
    "bank_account_changed": ("consumer_no", "account", "ifsc", "at"),
    "payment_refunded": ("amount", "receipt", "total"),
}


def note_values(params: dict[str, Any], language: str, *, sms: bool = False) -> dict[str, str]:
    """Every parameter formatted for display: *_paise as ₹ (Rs in an English SMS), ISO times
    in IST, ISO dates (`*_date`, `*_on`) as dates, the rest as is."""
    values: dict[str, str] = {}
    for name, value in params.items():
        if name.endswith("_paise") and isinstance(value, int):
            amount = format_inr(value, language)
            values[name.removesuffix("_paise")] = sms_amount(amount, language) if sms else amount
        elif name in ("at", "paid_at") and isinstance(value, str):
            values[name] = show_datetime(datetime.fromisoformat(value), language)
        elif name.endswith(("_date", "_on")) and isinstance(value, str):
            values[name] = show_date(date.fromisoformat(value[:10]), language)
        else:
            values[name] = str(value)
    return values


def render_note(note: Note) -> Reply:
    if note.kind == REPLY:
        return Reply(str(note.params.get("text", "")), link=note.params.get("link"))
    values = note_values(note.params, note.language)
    text = translate(note.language, f"notify.{note.kind}", **values)
    link = note.params.get("link_url")
    if link:
        text += "\n" + translate(note.language, "pay.link_line", link=link)
    return Reply(text, link=link)


def render_sms(note: Note) -> str:
    """The SMS text of a note: compact, in the note's language, with the link if any."""
    if note.kind == REPLY or "text" in note.params:
        return str(note.params.get("text", ""))
    values = note_values(note.params, note.language, sms=True)
    text = translate(note.language, f"sms.{note.kind}", **values)
    link = note.params.get("link_url")
    if link:
        text += " " + translate(note.language, "sms.link_line", link=link)
    return text


def template_variables(note: Note) -> dict[str, str]:
    """`content_variables` for the note's approved WhatsApp template ({"1": ..., "2": ...}).
    A variable may not be empty in a WhatsApp template, so a missing value is "-"."""
    values = note_values(note.params, note.language)
    return {str(n): values.get(name) or "-"
            for n, name in enumerate(TEMPLATE_VARIABLES.get(note.kind, ()), start=1)}
