"""Use case: the billing team sends a messy export; the operator runs `bijli import`, reads the
summary, and sends the refused rows back to be fixed — exit status says how it went."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app
from discom.db import Database
from discom.models import Consumer, LedgerEntry

CONSUMERS_HEADER = "consumer_no,name,mobile,tariff_category,division"
BILLS_HEADER = "consumer_no,bill_month,amount,due_date"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: Database, database_url: str
        ) -> str:
    """The CLI's settings; `db` empties the tables on PostgreSQL."""
    monkeypatch.chdir(tmp_path)  # no stray .env read
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal's width
    return database_url


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bijli(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def stored(url: str, *columns: Any) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        db = Database(url)
        try:
            async with db.uow() as uow:
                return [tuple(row) for row in await uow.session.execute(
                    select(*columns).order_by(*columns[:1]))]
        finally:
            await db.dispose()

    return asyncio.run(read())


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# --- warnings, not refusals --------------------------------------------------------------------


def test_a_file_with_only_bad_mobiles_loads_every_consumer_and_exits_0(env: str,
                                                                         tmp_path: Path) -> None:
    path = write(tmp_path, "consumers.csv", CONSUMERS_HEADER,
                 "1000000001,Asha,9876543210,LV1,Indore",
                 "1000000002,Babu,07312345678,LV1,Indore",
                 "1000000003,Chandra,NA,LV1,Indore",
                 "1000000004,Devi,9999999999,LV1,Indore")

    result = bijli("import", "consumers", path)

    assert result.exit_code == 0, result.output
    assert "line 3: mobile is a landline; imported without a mobile for SMS/OTP" in result.output
    assert "line 4: mobile is not a phone number" in result.output
    assert "line 5: mobile is a placeholder, not a real number" in result.output
    assert stored(env, Consumer.consumer_no, Consumer.mobile, Consumer.mobile_raw) == [
        ("1000000001", "+919876543210", None),
        ("1000000002", None, "07312345678"),
        ("1000000003", None, "NA"),
        ("1000000004", None, "9999999999"),
    ]


def test_a_consumer_with_a_landline_can_then_be_billed(env: str, tmp_path: Path) -> None:
    bijli("import", "consumers",
          write(tmp_path, "c.csv", CONSUMERS_HEADER, "1000000002,Babu,07312345678,LV1,Indore"))

    result = bijli("import", "bills",
                   write(tmp_path, "b.csv", BILLS_HEADER, "1000000002,2026-10,740.00,2026-11-10"))

    assert result.exit_code == 0, result.output
    assert stored(env, LedgerEntry.kind, LedgerEntry.amount_paise) == [("bill", 74000)]


# --- refused rows and the rejects file ----------------------------------------------------------


def test_refused_rows_exit_1_and_go_to_the_rejects_file_with_a_reason(env: str,
                                                                       tmp_path: Path) -> None:
    bijli("import", "consumers",
          write(tmp_path, "c.csv", CONSUMERS_HEADER, "1000000001,Asha,,LV1,Indore"))
    path = write(tmp_path, "bills.csv", BILLS_HEADER,
                 "1000000001,2026-10,512.50,2026-11-10",
                 "1000000001,2026-09,12.345,2026-10-10",
                 "1000000099,2026-10,100,2026-11-10")
    rejects = tmp_path / "rejects.csv"

    result = bijli("import", "bills", path, "--rejects", rejects)

    assert result.exit_code == 1, result.output
    assert "2 refused rows written to" in result.output
    assert read_csv(rejects) == [
        ["consumer_no", "bill_month", "amount", "due_date", "reason"],
        ["1000000001", "2026-09", "12.345", "2026-10-10",
         "line 3: amount '12.345': must be rupees with at most two decimals"],
        ["1000000099", "2026-10", "100", "2026-11-10",
         "line 4: unknown consumer_no '1000000099' (import consumers first)"],
    ]
    assert stored(env, LedgerEntry.bill_month, LedgerEntry.amount_paise) == [("2026-10", 51250)]


def test_a_fixed_rejects_file_imports_as_it_is(env: str, tmp_path: Path) -> None:
    path = write(tmp_path, "consumers.csv", CONSUMERS_HEADER + ",feeder_code",
                 "1000000001,Asha,,LV1,Indore,F1",
                 "1000000002,,,LV1,Indore,F2")
    rejects = tmp_path / "rejects.csv"
    assert bijli("import", "consumers", path, "--rejects", rejects).exit_code == 1
    rows = read_csv(rejects)
    assert rows[0] == [*CONSUMERS_HEADER.split(","), "feeder_code", "reason"]
    rows[1][1] = "Babu"  # the billing team fills in the name
    with rejects.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)

    result = bijli("import", "consumers", rejects)

    assert result.exit_code == 0, result.output
    assert stored(env, Consumer.consumer_no, Consumer.name, Consumer.feeder_code) == [
        ("1000000001", "Asha", "F1"), ("1000000002", "Babu", "F2")]


def test_no_rejects_file_content_beyond_the_header_when_nothing_is_refused(
        env: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = bijli("import", "consumers",
                   write(tmp_path, "c.csv", CONSUMERS_HEADER, "1000000001,Asha,NA,LV1,Indore"),
                   "--rejects", rejects)
    assert result.exit_code == 0, result.output
    assert read_csv(rejects) == [[*CONSUMERS_HEADER.split(","), "reason"]]


# --- an unusable file --------------------------------------------------------------------------


def test_a_file_with_the_wrong_header_exits_2_and_writes_nothing(env: str,
                                                                 tmp_path: Path) -> None:
    path = write(tmp_path, "bills.csv", CONSUMERS_HEADER, "1000000001,Asha,,LV1,Indore")
    result = bijli("import", "bills", path)
    assert result.exit_code == 2
    assert "it looks like a consumers file" in result.output
    assert stored(env, Consumer.consumer_no) == []


def test_the_help_documents_the_exit_statuses_and_points_to_the_contracts(env: str) -> None:
    result = bijli("import", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "0 loaded (warnings allowed), 1 some rows refused, 2 the file is unusable" in text
    assert "docs/contracts.md" in text


# --- the consumer's own verified mobile ----------------------------------------------------------


def test_the_summary_names_the_lines_whose_verified_mobile_was_kept(env: str,
                                                                    tmp_path: Path) -> None:
    from tests.integration.test_import_csv import record_mobile_change

    bijli("import", "consumers",
          write(tmp_path, "c.csv", CONSUMERS_HEADER, "1000000001,Asha,9876543210,LV1,Indore",
                "1000000002,Babu,9876543211,LV1,Indore"))
    asyncio.run(record_mobile_change(env, "1000000001", "+919812345670"))

    result = bijli("import", "consumers",
                   write(tmp_path, "c2.csv", CONSUMERS_HEADER,
                         "1000000002,Babu,9876543211,LV1,Indore",
                         "1000000001,Asha,9876543210,LV1,Indore"))

    assert result.exit_code == 0, result.output
    assert ("1 mobile kept as the consumer changed and verified it in a chat"
            " (the file's mobile not taken), line 3") in result.output
    assert stored(env, Consumer.consumer_no, Consumer.mobile) == [
        ("1000000001", "+919812345670"), ("1000000002", "+919876543211")]
