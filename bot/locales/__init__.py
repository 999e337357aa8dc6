"""The hi and en message catalogs (gettext .po files, read with Babel).

Message ids are stable keys ("dues.summary"); the text is in `hi.po` and `en.po` beside this
file, with `{placeholders}` filled by `str.format`. Translators edit the .po files with any
gettext tool; nothing user-facing lives in the handlers.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path
from string import Formatter

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("hi", "en")
_HERE = Path(__file__).parent


class MissingMessage(KeyError):
    """A key that is not in a catalog: a programming error, caught by the catalog tests."""


@cache
def catalog(language: str) -> dict[str, str]:
    with (_HERE / f"{language}.po").open("rb") as handle:
        po = read_po(handle, locale=language)
    # Plural messages (msgid + msgid_plural) are read by `translate_plural`.
    return {m.id: m.string for m in po if m.id and m.string and isinstance(m.id, str)}


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


# --- plurals (Babel's ngettext) ---------------------------------------------------------------
#
# A message with a count is a gettext plural entry, keyed `msgid "<key>"` and
# `msgid_plural "<key>.plural"`, with one `msgstr[n]` per form of the catalog's Plural-Forms
# (en: 1 | other; hi: 0-1 | other). `{count}` is the number.


@cache
def _translations(language: str) -> Translations:
    with (_HERE / f"{language}.po").open("rb") as handle:
        po = read_po(handle, locale=language)
    compiled = BytesIO()
    write_mo(compiled, po)
    compiled.seek(0)
    return Translations(fp=compiled)


@cache
def plural_catalog(language: str) -> dict[str, tuple[str, ...]]:
    """The plural messages: key → the text of each plural form."""
    with (_HERE / f"{language}.po").open("rb") as handle:
        po = read_po(handle, locale=language)
    return {m.id[0]: tuple(m.string) for m in po if isinstance(m.id, tuple) and all(m.string)}


def translate_plural(language: str, key: str, count: int, **values: object) -> str:
    """The form of `key` for `count` ("1 KYC record", "2 KYC records"), filled in."""
    if key not in plural_catalog(language):
        raise MissingMessage(f"{language}:{key} (plural)")
    template = _translations(language).ngettext(key, f"{key}.plural", count)
    return template.format(count=count, **values)
