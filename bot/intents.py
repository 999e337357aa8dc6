"""What a consumer's free text asks for: an intent, and the consumer number inside it if any.

People type "mera bill kitna hai", "बिजली कब आएगी", "pay karna hai 1000000004", with typos and
in either script. This module is pure (text in, `Reading` out) and knows no channel; the dialog
engine routes every free-text message through `read` (Telegram, WhatsApp, SMS, console).

The keywords live in the message catalogs beside the messages (`intent.dues`, `intent.pay`...,
comma-separated, in en.po and hi.po), so translators keep them. Each keyword that appears in
the text — exactly, or for longer words within a typo (rapidfuzz's normalised Indel ratio) —
scores its number of words for its intent (half a word less if typed with a typo): phrases
("kab aayegi") say more than single words ("bijli"). The highest score wins; a tie goes to
the intent listed first in `PRECEDENCE`. Text that matches nothing reads as no intent, which
the dialog answers with the help menu.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache

from rapidfuzz import fuzz, process

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
# "samagra se link karo" is KYC, not a payment link; "bill pay karna hai" is a payment, not
# a question about the bill.
PRECEDENCE = (Intent.CANCEL, Intent.STATUS, Intent.KYC, Intent.PAY, Intent.DUES,
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
    alike = [_alike_words(token) for token in tokens]
    found: dict[Phrase, float] = {}
    for start, candidates in enumerate(alike):
        for first in candidates:
            for phrase in _phrases_by_first_word().get(first, ()):
                score = _score_at(phrase, alike, start)
                found[phrase] = max(found.get(phrase, 0.0), score)
    scores: dict[Intent, float] = defaultdict(float)
    for (_, intent), score in found.items():
        scores[intent] += score
    best = max(scores.values(), default=0)
    if not best:
        return None
    return next(intent for intent in PRECEDENCE if scores.get(intent) == best)


def _score_at(phrase: Phrase, alike: list[dict[str, bool]], start: int) -> float:
    """A phrase found word for word scores its number of words; found with a typo, half a
    word less — so "reconnection" typed right is not outweighed by a near "connection"."""
    words, _ = phrase
    if start + len(words) > len(alike):
        return 0.0
    exact = []
    for offset, word in enumerate(words):
        if word not in alike[start + offset]:
            return 0.0
        exact.append(alike[start + offset][word])
    return len(words) - (0.0 if all(exact) else 0.5)


@lru_cache(maxsize=4096)
def _alike_words(token: str) -> dict[str, bool]:
    """The keyword words a typed word may be: {word: typed exactly}."""
    matches = process.extract(token, _words(), scorer=fuzz.ratio, score_cutoff=80, limit=None)
    return {word: word == token for word, _, _ in matches if _alike(token, word)}


def _alike(typed: str, word: str) -> bool:
    """How alike a typed word must be. Short words only exactly ("hai" is not "pay", "pay" is
    not "gpay"); up to six letters one letter more or less ("bhugtn"), longer ones also one
    letter changed ("payment" ~ "paymant"); "light" and "right" stay apart."""
    if typed == word:
        return True
    if len(word) <= 4:
        return False
    cutoff = 85 if len(word) <= 6 else 80
    return bool(fuzz.ratio(typed, word, score_cutoff=cutoff))


# A keyword phrase: its folded words, and the intent it speaks for.
Phrase = tuple[tuple[str, ...], Intent]


@cache
def _phrases_by_first_word() -> dict[str, tuple[Phrase, ...]]:
    """Every catalog's keyword phrases, found by their first word."""
    phrases: dict[str, set[Phrase]] = defaultdict(set)
    for intent in Intent:
        for keyword in keywords(f"intent.{intent}"):
            words = tuple(_fold(word) for word in _PUNCTUATION.sub(" ", keyword).split())
            if words:
                phrases[words[0]].add((words, intent))
    return {first: tuple(sorted(found)) for first, found in phrases.items()}


@cache
def _words() -> tuple[str, ...]:
    return tuple(sorted({word for phrases in _phrases_by_first_word().values()
                         for words, _ in phrases for word in words}))


_NUKTA, _CANDRABINDU, _ANUSVARA = "\u093c", "\u0901", "\u0902"


def _fold(word: str) -> str:
    """One spelling for the ways people spell a word: case, the nukta and candrabindu
    (हाँ / हां), and in Latin script long vowels and doubled letters (aayegi / ayegi,
    bijlee / bijli, bill / bil)."""
    word = unicodedata.normalize("NFC", word.casefold())
    word = word.replace(_NUKTA, "").replace(_CANDRABINDU, _ANUSVARA)
    word = word.replace("ee", "i").replace("oo", "u")
    return re.sub(r"([a-z])\1+", r"\1", word)
