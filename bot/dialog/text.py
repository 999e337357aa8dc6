"""Cleaning what consumers type before any handler sees it."""

from __future__ import annotations

import unicodedata

from discom.identifiers import ascii_digits


def clean(text: str) -> str:
    """NFKC, ASCII digits, control and format characters dropped, whitespace folded."""
    normal = ascii_digits(unicodedata.normalize("NFKC", text))
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in normal
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    return " ".join(kept.split())


def words(text: str) -> list[str]:
    return [w.strip("?!.,;:।'\"").casefold() for w in text.split()]


def mentions(text: str, vocabulary: frozenset[str]) -> bool:
    """True when any word (or the whole text) is one of the vocabulary's words or phrases."""
    folded = text.casefold()
    return folded in vocabulary or any(w in vocabulary for w in words(text)) or any(
        " " in phrase and phrase in folded for phrase in vocabulary
    )
