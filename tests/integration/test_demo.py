"""Use case: someone tries Bijli with the demo data on any day of the year, and a bill's month,
due date and the demo commands read right."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app
from discom.db import Database
from discom.demo import seed
from discom.models import LedgerEntry


def month_end(month: str) -> date:
    year, number = int(month[:4]), int(month[5:])
    first_of_next = date(year + number // 12, number % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


@pytest.mark.parametrize("now", [
    datetime(2026, 12, 5, 6, 30, tzinfo=UTC),
    datetime(2027, 1, 1, 4, 0, tzinfo=UTC),
    datetime(2027, 2, 20, 4, 0, tzinfo=UTC),  # 50 and 20 days back are 1 and 31 January
    datetime(2027, 3, 31, 12, 0, tzinfo=UTC),
])
async def test_every_demo_bill_is_due_after_its_month_ends(db: Database, now: datetime) -> None:
    await seed(db, now=now)
    async with db.uow() as uow:
        bills = (await uow.session.execute(
            select(LedgerEntry.bill_month, LedgerEntry.due_date)
            .where(LedgerEntry.kind == "bill"))).all()

    assert len(bills) > 20
    for month, due in bills:
        assert month_end(month) < due <= month_end(month) + timedelta(days=62), (month, due)


async def test_an_overdue_demo_bill_is_for_the_month_before_its_due_date(db: Database) -> None:
    await seed(db, now=datetime(2026, 12, 5, 6, 30, tzinfo=UTC))
    async with db.uow() as uow:
        month, due = (await uow.session.execute(
            select(LedgerEntry.bill_month, LedgerEntry.due_date)
            .where(LedgerEntry.idempotency_key.startswith("bill/1000000003/")))).one()
    # Abdul Rahman, "overdue by 10 days": due 25 November, so October's bill.
    assert (month, due) == ("2026-10", date(2026, 11, 25))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: Database,
            database_url: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize(("consumer_no", "message"), [
    ("1000000099", "no consumer 1000000099: the demo consumers are 1000000001 ... 1000000020"),
    ("12", "consumer number must be 6-20 letters or digits"),
])
def test_disconnecting_an_unknown_consumer_is_an_error(cli_env: None, consumer_no: str,
                                                       message: str) -> None:
    result = CliRunner().invoke(app, ["demo", "disconnect", consumer_no])
    assert result.exit_code == 1
    assert message in result.output
