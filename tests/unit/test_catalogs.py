"""Every message exists in hi and en, with the same placeholders, and every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.locales import LANGUAGES, MissingMessage, catalog, placeholders, translate

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
