"""SMS text: how many segments a text costs, and values written the way SMS can carry them.

An SMS is one segment of 160 GSM-7 characters, or 70 UCS-2 code units as soon as a single
character falls outside GSM-7 (any Devanagari letter, but also "₹", "—" or a curly quote).
Longer texts are split into concatenated segments of 153 GSM-7 characters or 67 UCS-2 units
(the rest of each segment carries the concatenation header); GSM-7's extension characters
(`{ } [ ] ~ | ^ € \\` and form feed) take two septets each. Operators bill, and Twilio queues,
per segment.

English SMS therefore write rupees as "Rs" (one "₹" would turn the whole text into UCS-2 and
cut its capacity by more than half); Hindi SMS are UCS-2 anyway and keep "₹".
"""

from __future__ import annotations

import math

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def encoding(text: str) -> str:
    """"GSM-7" or "UCS-2": what the text is sent in."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def segments(text: str) -> int:
    """How many SMS segments `text` is sent in (0 for an empty text)."""
    if not text:
        return 0
    if is_gsm7(text):
        septets = len(text) + sum(1 for ch in text if ch in GSM7_EXTENSION)
        return 1 if septets <= GSM7_SINGLE else math.ceil(septets / GSM7_PART)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= UCS2_SINGLE else math.ceil(units / UCS2_PART)


def sms_amount(formatted: str, language: str) -> str:
    """An amount formatted by `format_inr`, made SMS-friendly: "₹1,234.00" → "Rs 1,234.00" in
    English (GSM-7); unchanged in Hindi."""
    return formatted.replace("₹", "Rs ") if language == "en" else formatted
