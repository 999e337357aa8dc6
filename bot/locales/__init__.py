"""The hi and en message catalogs (gettext .po files, read with Babel).

Message ids are stable keys ("dues.summary"); the text is in `hi.po` and `en.po` beside this
file, with `{placeholders}` filled by `str.format`. Translators edit the .po files with any
gettext tool; nothing user-facing lives in the handlers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Formatter

from babel.messages.pofile import read_po

LANGUAGES = ("hi", "en")
_HERE = Path(__file__).parent


class MissingMessage(KeyError):
    """A key that is not in a catalog: a programming error, caught by the catalog tests."""


@cache
def catalog(language: str) -> dict[str, str]:
    with (_HERE / f"{language}.po").open("rb") as handle:
        po = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def translate(language: str, key: str, **values: object) -> str:
    try:
        template = catalog(language)[key]
    except KeyError:
        raise MissingMessage(f"{language}:{key}") from None
    return template.format(**values) if values else template


def keywords(key: str) -> frozenset[str]:
    """Words consumers type for an intent, in every language (catalog entries are
    comma-separated lists, compared case-insensitively)."""
    words: set[str] = set()
    for language in LANGUAGES:
        words.update(w.strip().casefold() for w in translate(language, key).split(","))
    return frozenset(w for w in words if w)
