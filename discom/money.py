"""Money is integer paise everywhere; rupees exist only at the edges (CSV input, display)."""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_currency

_RUPEES = re.compile(r"^(?P<int>\d{1,12})(?:\.(?P<frac>\d{1,2}))?$")

Paise = int


class InvalidAmount(ValueError):
    """A rupee amount that is not a plain non-negative number with at most two decimals."""


def rupees_to_paise(text: str) -> Paise:
    """Parse "1234.5" / "1,234.50" exactly into paise; never goes through a float."""
    cleaned = text.strip().replace(",", "")
    match = _RUPEES.match(cleaned)
    if match is None:
        raise InvalidAmount(f"not an amount in rupees: {text[:40]!r}")
    frac = (match["frac"] or "").ljust(2, "0")
    return int(match["int"]) * 100 + int(frac)


def format_inr(paise: Paise, language: str = "en") -> str:
    """₹ with Indian digit grouping: 12345678 paise → ₹1,23,456.78."""
    locale = "hi_IN" if language == "hi" else "en_IN"
    return format_currency(Decimal(paise) / 100, "INR", locale=locale)
