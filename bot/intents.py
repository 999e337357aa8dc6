"""What a consumer's free text asks for: an intent, and the consumer number inside it if any.

People type "mera bill kitna hai", "बिजली कब आएगी", "pay karna hai 1000000004", with typos and
in either script. This module is pure (text in, `Reading` out) and knows no channel; the dialog
engine routes every free-text message through `read` (Telegram, WhatsApp, SMS, console).

The keywords live in the message catalogs beside the messages (`intent.dues`, `intent.pay`...,
comma-separated, in en.po and hi.po), so translators keep them. Each keyword that appears in
the text — exactly, or for longer words within a typo (rapidfuzz's normalised Indel ratio) —
scores its number of words for its intent: phrases ("kab aayegi") say more than single words
("bijli"). The highest score wins; a tie goes to the intent listed first in `PRECEDENCE`. Text
that matches nothing reads as no intent, which the dialog answers with the help menu.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from rapidfuzz import fuzz

from bot.dialog.text import clean
from bot.locales import keywords
from discom.identifiers import InvalidIdentifier, normalise_consumer_no


class Intent(StrEnum):
    DUES = "dues"
    PAY = "pay"
    STATUS = "status"
    KYC = "kyc"
    LANGUAGE = "language"
    HELP = "help"
    MENU = "menu"
    GREETING = "greeting"
    THANKS = "thanks"
    CANCEL = "cancel"


# Ties go to the earlier: "paid but no power" is about the supply, not a payment to make;
# "bill pay karna hai" is a payment, not a question about the bill.
PRECEDENCE = (Intent.CANCEL, Intent.STATUS, Intent.PAY, Intent.DUES, Intent.KYC,
              Intent.LANGUAGE, Intent.HELP, Intent.MENU, Intent.THANKS, Intent.GREETING)
# Intents that start a task; the others only talk (and are safe to get wrong).
ACTIONS = frozenset({Intent.DUES, Intent.PAY, Intent.STATUS, Intent.KYC, Intent.LANGUAGE})


@dataclass(frozen=True, slots=True)
class Reading:
    intent: Intent | None
    consumer_no: str | None = None


# A consumer number inside text: digits, maybe a short letter prefix glued on ("N3245001234"),
# maybe typed in groups ("1000 000 004", "1000-000-004"); never the tail of a word.
_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,3}[0-9](?:[A-Za-z0-9\-/]|\s(?=[0-9]))*",
                     re.ASCII)
_PUNCTUATION = re.compile(r"[?!.,;:।॥'\"()\[\]{}*#@~…]+")


def read(text: str) -> Reading:
    """The intent of `text` and the first well-formed consumer number in it."""
    cleaned = clean(text)
    consumer_no, rest = _consumer_no(cleaned)
    return Reading(_intent(rest), consumer_no)


def _consumer_no(text: str) -> tuple[str | None, str]:
    """The first candidate that is a valid consumer number, and the text without it."""
    for match in _NUMBER.finditer(text):
        try:
            number = normalise_consumer_no(match.group())
        except InvalidIdentifier:
            continue
        return number, text[:match.start()] + " " + text[match.end():]
    return None, text


def _intent(text: str) -> Intent | None:
    tokens = [_fold(word) for word in _PUNCTUATION.sub(" ", text).split()]
    scores: dict[Intent, int] = defaultdict(int)
    for phrase, intent, size in _vocabulary():
        if _appears(phrase, size, tokens):
            scores[intent] += size
    if not scores:
        return None
    best = max(scores.values())
    return next(intent for intent in PRECEDENCE if scores.get(intent) == best)


def _appears(phrase: str, size: int, tokens: list[str]) -> bool:
    """Whether the phrase's words stand in a row in the text, each exactly or within a typo."""
    words = phrase.split()
    return any(
        all(_alike(token, word) for token, word in zip(tokens[start:start + size], words,
                                                      strict=True))
        for start in range(len(tokens) - size + 1)
    )


def _alike(typed: str, word: str) -> bool:
    """How alike a typed word must be. Short words only exactly ("hai" is not "pay"); up to
    six letters one letter more or less ("bhugtn"), longer ones also one letter changed
    ("payment" ~ "paymant"); "light" and "right" stay apart."""
    if typed == word:
        return True
    if len(word) <= 3:
        return False
    cutoff = 85 if len(word) <= 6 else 80
    return bool(fuzz.ratio(typed, word, score_cutoff=cutoff))


@cache
def _vocabulary() -> tuple[tuple[str, Intent, int], ...]:
    """(folded phrase, intent, words in it) from every catalog."""
    entries = {}
    for intent in Intent:
        for phrase in keywords(f"intent.{intent}"):
            folded = " ".join(_fold(word) for word in _PUNCTUATION.sub(" ", phrase).split())
            if folded:
                entries[(folded, intent)] = len(folded.split())
    return tuple((phrase, intent, size) for (phrase, intent), size in entries.items())


_NUKTA, _CANDRABINDU, _ANUSVARA = "\u093c", "\u0901", "\u0902"


def _fold(word: str) -> str:
    """One spelling for the ways people spell a word: case, the nukta and candrabindu
    (हाँ / हां), and in Latin script long vowels and doubled letters (aayegi / ayegi,
    bijlee / bijli, bill / bil)."""
    word = unicodedata.normalize("NFC", word.casefold())
    word = word.replace(_NUKTA, "").replace(_CANDRABINDU, _ANUSVARA)
    word = word.replace("ee", "i").replace("oo", "u")
    return re.sub(r"([a-z])\1+", r"\1", word)
