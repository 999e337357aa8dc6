"""Every message exists in hi and en, with the same placeholders, and every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.locales import (
    LANGUAGES,
    MissingMessage,
    catalog,
    placeholders,
    plural_catalog,
    translate,
    translate_plural,
)

ROOT = Path(__file__).resolve().parents[2]


def test_hindi_and_english_have_the_same_keys():
    assert set(catalog("hi")) == set(catalog("en"))


@pytest.mark.parametrize("key", sorted(catalog("en")))
def test_both_languages_fill_the_same_placeholders(key: str):
    assert placeholders(catalog("hi")[key]) == placeholders(catalog("en")[key])


def _keys_used_in_code() -> set[str]:
    key = r"""["']([a-z_]+\.[a-z_.]+)["']"""
    pattern = re.compile(rf"""(?:\.t|\.say|keywords)\(\s*{key}|translate\([^,()]+,\s*{key}""")
    used = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            used.add(match.group(1) or match.group(2))
    return used


def test_every_key_the_code_uses_is_in_the_catalogs():
    used = _keys_used_in_code()
    assert len(used) > 20  # the scan itself works
    assert used - set(catalog("en")) == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_missing_key_is_an_error_not_a_blank(language: str):
    with pytest.raises(MissingMessage):
        translate(language, "no.such.key")


# --- plurals -----------------------------------------------------------------------------------


def test_hindi_and_english_have_the_same_plural_messages():
    assert set(plural_catalog("hi")) == set(plural_catalog("en"))
    assert len(plural_catalog("en")) >= 4


@pytest.mark.parametrize("key", sorted(plural_catalog("en")))
def test_every_plural_form_fills_the_count_and_the_same_placeholders(key: str):
    forms = plural_catalog("en")[key] + plural_catalog("hi")[key]
    assert len(forms) == 4  # two forms each (Plural-Forms: nplurals=2)
    assert all("count" in placeholders(form) for form in forms)
    assert len({frozenset(placeholders(form)) for form in forms}) == 1


@pytest.mark.parametrize(("language", "count", "text"), [
    ("en", 1, "1 KYC record exported"),
    ("en", 0, "0 KYC records exported"),
    ("en", 2, "2 KYC records exported"),
    ("hi", 0, "0 KYC रिकॉर्ड निर्यात किया गया"),  # Hindi counts 0 and 1 alike
    ("hi", 1, "1 KYC रिकॉर्ड निर्यात किया गया"),
    ("hi", 5, "5 KYC रिकॉर्ड निर्यात किए गए"),
])
def test_a_count_picks_the_languages_plural_form(language: str, count: int, text: str):
    assert translate_plural(language, "cli.kyc_exported", count) == text


def test_a_missing_plural_key_is_an_error():
    with pytest.raises(MissingMessage):
        translate_plural("en", "no.such.key", 2)
