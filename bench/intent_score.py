"""How well `bot.intents` reads what people type: the share of a table of messages read right.

Run:

    .venv/bin/python bench/intent_score.py                   # the tuned and the held-out table
    .venv/bin/python bench/intent_score.py --misses FILE.tsv # also list what was read wrong

A table is tab-separated: message, expected intent ("none" for the help menu), and the
consumer number the message carries (may be empty). A message is read right when both the
intent and the number are. A number with no words asks for dues (the dialog looks it up).
A miss is "wrong action" when it would start a different task than the one asked for —
the one kind of miss that must never happen — and "help menu" otherwise.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from bot.intents import ACTIONS, Reading, read

TABLES = Path(__file__).resolve().parent.parent / "tests" / "unit"
DEFAULT_TABLES = (TABLES / "intent_messages.tsv", TABLES / "intent_messages_heldout.tsv")


def load(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row[0], row[1], row[2] if len(row) > 2 else "")
                for row in rows if row and not row[0].startswith("#")]


def asked(reading: Reading) -> str:
    """What the dialog does with a reading, as the table names it."""
    if reading.intent is not None:
        return str(reading.intent)
    return "dues" if reading.consumer_no else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", type=Path, default=list(DEFAULT_TABLES))
    parser.add_argument("--misses", action="store_true", help="list the messages read wrong")
    args = parser.parse_args()
    for path in args.tables:
        rows = load(path)
        misses = []
        started = time.perf_counter()
        readings = [read(message) for message, _, _ in rows]
        per_message_ms = (time.perf_counter() - started) * 1000 / len(rows)
        for (message, intent, number), reading in zip(rows, readings, strict=True):
            got = asked(reading)
            if got != intent or (reading.consumer_no or "") != number:
                wrong = got in ACTIONS and got != intent
                misses.append((message, intent, got, reading.consumer_no, wrong))
        right = len(rows) - len(misses)
        wrong = sum(1 for miss in misses if miss[-1])
        print(f"{path.name}: {right}/{len(rows)} right ({100 * right / len(rows):.1f} %), "
              f"{len(misses) - wrong} to the help menu, {wrong} wrong action, "
              f"{per_message_ms:.2f} ms a message")
        if args.misses:
            for message, intent, got, number, is_wrong in misses:
                kind = "WRONG ACTION" if is_wrong else "help menu"
                print(f"  {kind}: {message!r} expected {intent}, read {got} {number or ''}")


if __name__ == "__main__":
    main()
