"""Every setting is documented in .env.example (with a comment) and in the README table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from discom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = sorted(name.upper() for name in Settings.model_fields)


def _example_entries() -> dict[str, list[str]]:
    """Each variable in .env.example with the comment lines right above it."""
    entries: dict[str, list[str]] = {}
    comments: list[str] = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif match := re.match(r"^([A-Z0-9_]+)=", line):
            entries[match.group(1)] = comments
            # Grouped variables (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) share one comment.
        elif not line.strip():
            comments = []
    return entries


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_env_example_with_a_comment(name: str):
    entries = _example_entries()
    assert name in entries, f"{name} is missing from .env.example"
    assert entries[name], f"{name} has no comment in .env.example"


def test_env_example_names_no_setting_that_does_not_exist():
    assert set(_example_entries()) - set(SETTINGS) == set()


def test_env_example_as_it_stands_is_a_valid_configuration():
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.production_problems()  # the embedded default is not production-ready
