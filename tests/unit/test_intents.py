"""Reading what people type: the intent and the consumer number in free text."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.intents import ACTIONS, Intent, Reading, read

TABLE = Path(__file__).parent / "intent_messages.tsv"
REQUIRED_SHARE = 0.95


def _table() -> list[tuple[str, str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row[0], row[1], row[2] if len(row) > 2 else "")
                for row in rows if row and not row[0].startswith("#")]


def _asked(reading: Reading) -> str:
    """What the dialog does with a reading: a number alone is looked up as dues."""
    if reading.intent is not None:
        return str(reading.intent)
    return "dues" if reading.consumer_no else "none"


MESSAGES = _table()


# --- the table --------------------------------------------------------------------------------

def test_the_table_is_large_and_covers_every_intent_in_both_scripts():
    assert len(MESSAGES) >= 150
    assert {intent for _, intent, _ in MESSAGES} >= {str(i) for i in Intent} | {"none"}
    assert any("\u0900" <= ch <= "\u097f" for message, _, _ in MESSAGES for ch in message)
    assert sum(1 for *_, number in MESSAGES if number) >= 15


def test_at_least_95_percent_of_the_table_is_read_right():
    right = sum(1 for message, intent, number in MESSAGES
                if _asked(read(message)) == intent and (read(message).consumer_no or "") == number)
    assert right / len(MESSAGES) >= REQUIRED_SHARE, f"{right}/{len(MESSAGES)}"


@pytest.mark.parametrize(("message", "intent", "number"), MESSAGES, ids=[m for m, _, _ in MESSAGES])
def test_no_message_starts_a_different_action_than_asked(message: str, intent: str, number: str):
    reading = read(message)
    asked = _asked(reading)
    assert asked == intent or asked not in ACTIONS, f"{message!r} would start {asked}"
    if reading.consumer_no:
        assert reading.consumer_no == number, f"{message!r} would look up {reading.consumer_no}"


# --- use cases named in the issue -------------------------------------------------------------

@pytest.mark.parametrize(("message", "intent"), [
    ("mera bill kitna hai", Intent.DUES), ("बिल बताओ", Intent.DUES),
    ("how much do I owe", Intent.DUES), ("bhugtan", Intent.PAY),
    ("pay karna hai", Intent.PAY), ("online payment", Intent.PAY),
    ("light kab aayegi", Intent.STATUS), ("बिजली कब आएगी", Intent.STATUS),
    ("paid but no power", Intent.STATUS), ("paisa de diya bijli nahi aayi", Intent.STATUS),
])
def test_the_issues_examples_are_understood(message: str, intent: Intent):
    assert read(message) == Reading(intent, None)


def test_a_number_inside_text_is_found_with_the_intent():
    assert read("mera number 1000000004 hai") == Reading(None, "1000000004")
    assert read("pay karna hai 1000-000-004") == Reading(Intent.PAY, "1000000004")
    assert read("१००००००००४ की बिजली कब आएगी") == Reading(Intent.STATUS, "1000000004")


def test_words_glued_to_a_number_are_not_part_of_it():
    assert read("bill1000000004").consumer_no is None
    assert read("bill 1000000004").consumer_no == "1000000004"


@pytest.mark.parametrize("message", ["bhugtn", "paymant karna h", "bijlee kab aaegi",
                                     "billl kitna hai"])
def test_a_typo_in_a_longer_word_is_forgiven(message: str):
    assert read(message).intent in ACTIONS


@pytest.mark.parametrize("message", ["right", "hai", "gpa", "night"])
def test_short_or_different_words_are_not_stretched_into_keywords(message: str):
    assert read(message).intent is None


@given(st.text(alphabet="qwxzjfvkQWXZJ ", max_size=40))
def test_gibberish_reads_as_nothing_so_it_gets_the_help_menu(text: str):
    assert read(text).intent is None
