"""Does the name on the account belong to the person the Samagra registry knows?

A tolerant comparison, because the same person is written many ways: case and spacing,
initials ("R. K. Verma" for "Ramesh Kumar Verma"), honorifics ("Shri", "Smt."), English
spellings of Hindi sounds ("Shrivastava"/"Srivastava", "Laxmi"/"Lakshmi") and the registry's
Devanagari spelling (`name_hi`), which is romanised first. Names are reduced to phonetic keys
and paired token by token (rapidfuzz scores the near spellings):

- MATCH: every word on both sides is paired (an initial pairs with a word it begins), the
  surnames agree in full, and at least one word is spelled out on both sides;
- NEAR: the given names agree and at most one word is unpaired (a missing surname, a changed
  one), or the whole name is spelled close: staff decide;
- MISMATCH: another person (another given name under the same surname is another member of
  the family, the likeliest borrowed Samagra ID).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from rapidfuzz import fuzz

HONORIFICS = frozenset({"shri", "sri", "shrimati", "smt", "kumari", "km", "mr", "mrs", "ms",
                        "dr", "late", "sh"})
# rapidfuzz ratios (0-100). Two words are one when their keys are this close, or when only
# vowels differ ("Verma"/"Varma", "Rathore"/"Rathaur") and they are at least VOWELS_ONLY close:
# consonants carry a Hindi name, vowels are where English spellings wander.
SIMILAR = 90
VOWELS_ONLY = 60
NEAR_OVERALL = 85  # whole-name ratio from which a name not paired word by word is worth a look


class NameMatch(StrEnum):
    MATCH = "match"
    NEAR = "near"
    MISMATCH = "mismatch"


# --- Devanagari → Latin (enough for names; the phonetic keys absorb the rest) ----------------

_VOWELS = {"अ": "a", "आ": "a", "इ": "i", "ई": "i", "उ": "u", "ऊ": "u", "ऋ": "ri", "ए": "e",
           "ऐ": "ai", "ओ": "o", "औ": "au"}
_SIGNS = {"ा": "a", "ि": "i", "ी": "i", "ु": "u", "ू": "u", "ृ": "ri", "े": "e", "ै": "ai",
          "ो": "o", "ौ": "au", "ं": "n", "ँ": "n", "ः": "h"}
_CONSONANTS = dict(zip(
    "कखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहळ",
    ["k", "kh", "g", "gh", "n", "ch", "chh", "j", "jh", "n", "t", "th", "d", "dh", "n", "t",
     "th", "d", "dh", "n", "p", "ph", "b", "bh", "m", "y", "r", "l", "v", "sh", "sh", "s", "h",
     "l"], strict=True))
_VIRAMA, _NUKTA = "्", "़"


def romanise(text: str) -> str:
    """Devanagari letters in Latin ("रमेश कुमार" → "ramesh kumar"); other text unchanged.
    A consonant carries the inherent "a" unless a vowel sign or virama follows, or it ends
    the word (Hindi drops it there)."""
    text = unicodedata.normalize("NFC", text).replace(_NUKTA, "")
    out: list[str] = []
    for position, char in enumerate(text):
        if char in _CONSONANTS:
            out.append(_CONSONANTS[char])
            following = text[position + 1] if position + 1 < len(text) else " "
            if following not in _SIGNS and following != _VIRAMA and following.strip() and (
                    following in _CONSONANTS or following in _VOWELS):
                out.append("a")
        elif char in _SIGNS:
            out.append(_SIGNS[char])
        elif char in _VOWELS:
            out.append(_VOWELS[char])
        elif char != _VIRAMA:
            out.append(char)
    return "".join(out)


# --- phonetic keys ----------------------------------------------------------------------------

# Order matters: longer spellings first. Each pair writes one Hindi sound one way.
_SOUNDS = (("ksh", "x"), ("chh", "c"), ("ch", "c"), ("sh", "s"), ("ph", "f"), ("th", "t"),
           ("dh", "d"), ("bh", "b"), ("kh", "k"), ("gh", "g"), ("jh", "j"), ("w", "v"),
           ("z", "j"), ("q", "k"), ("ck", "k"), ("ee", "i"), ("ii", "i"), ("oo", "u"),
           ("uu", "u"), ("aa", "a"), ("ou", "au"), ("y", "i"), ("ng", "n"))


def words(name: str) -> list[str]:
    """The name's words, romanised and lower case, honorifics and punctuation left out.
    "R.K." is two initials."""
    latin = romanise(name).casefold()
    latin = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode("ascii")
    latin = re.sub(r"[^a-z]+", " ", latin)
    return [word for word in latin.split() if word not in HONORIFICS]


def phonetic(word: str) -> str:
    for spelled, sound in _SOUNDS:
        word = word.replace(spelled, sound)
    word = re.sub(r"(.)\1+", r"\1", word)  # doubled letters: "Laxmi"/"Lakshmi", "Jain"
    word = re.sub(r"(?<=[^aeiou])h$", "", word)  # "Sinh"/"Singh" (सिंह): a final aspirate
    if len(word) > 3 and word.endswith("a"):  # "Rama"/"Ram": Hindi drops the final a
        word = word[:-1]
    return word


def _same_word(a: str, b: str) -> bool:
    if len(a) == 1 or len(b) == 1:  # an initial
        return a[0] == b[0]
    if a == b or fuzz.ratio(a, b) >= SIMILAR:
        return True
    return _consonants(a) == _consonants(b) and fuzz.ratio(a, b) >= VOWELS_ONLY


def _consonants(word: str) -> str:
    return word[0] + re.sub("[aeiou]", "", word[1:])


def _paired(ours: list[str], theirs: list[str]) -> tuple[int, bool]:
    """How many of `ours` pair with a distinct word of `theirs` (in order of appearance),
    and whether any pair is two spelled-out words."""
    free = list(theirs)
    paired, spelled = 0, False
    for word in ours:
        found = next((other for other in free if _same_word(word, other)), None)
        if found is None:
            continue
        free.remove(found)
        paired += 1
        spelled = spelled or (len(word) > 1 and len(found) > 1)
    return paired, spelled


def compare(record_name: str, registry_name: str) -> NameMatch:
    ours = [phonetic(word) for word in words(record_name)]
    theirs = [phonetic(word) for word in words(registry_name)]
    if not ours or not theirs:
        return NameMatch.MISMATCH
    paired, spelled = _paired(ours, theirs)
    surnames_agree = (len(ours[-1]) > 1 and len(theirs[-1]) > 1
                      and _same_word(ours[-1], theirs[-1]))
    if paired == len(ours) == len(theirs) and spelled and surnames_agree:
        return NameMatch.MATCH
    # Another given name with the same surname is another member of the family: not near.
    if spelled and _same_word(ours[0], theirs[0]) and (
            paired >= max(len(ours), len(theirs)) - 1):
        return NameMatch.NEAR
    if fuzz.ratio(" ".join(ours), " ".join(theirs)) >= NEAR_OVERALL:
        return NameMatch.NEAR
    return NameMatch.MISMATCH


def best_match(record_name: str, registry_names: list[str]) -> NameMatch:
    """The best outcome over the registry's spellings of one person (English and Hindi)."""
    outcomes = {compare(record_name, name) for name in registry_names if name.strip()}
    for outcome in (NameMatch.MATCH, NameMatch.NEAR):
        if outcome in outcomes:
            return outcome
    return NameMatch.MISMATCH
