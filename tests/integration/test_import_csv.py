"""`bijli import`: CSV exports of the billing system upserted into the database, idempotently."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

import discom.importer as importer
from discom.accounts import load_dues
from discom.db import Database
from discom.importer import ImportFileError, ImportReport, RowError, import_csv
from discom.kyc.vault import PiiVault, parse_keys
from discom.ledger import Dues
from discom.models import Chat, Consumer, LedgerEntry, Meter, MobileChange, OtpChallenge

CONSUMERS_HEADER = "consumer_no,name,mobile,tariff_category,division"
METERS_HEADER = "meter_id,consumer_no,remote_switch,relay_state"
BILLS_HEADER = "consumer_no,bill_month,amount,due_date"


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def run(db: Database, kind: Any, tmp_path: Path, *lines: str, **kwargs: Any
              ) -> ImportReport:
    return await import_csv(db, kind, write(tmp_path, f"{kind}.csv", *lines), **kwargs)


async def seed_consumers(db: Database, tmp_path: Path, *numbers: str) -> None:
    lines = [f"{no},Consumer {no},,LV1,Indore East" for no in numbers]
    report = await run(db, "consumers", tmp_path, CONSUMERS_HEADER, *lines)
    assert report.errors == []


async def consumers(db: Database) -> dict[str, Any]:
    """Stored consumers as plain rows (column attributes), by consumer_no."""
    async with db.uow() as uow:
        rows = (await uow.session.execute(select(*Consumer.__table__.c))).all()
    return {row.consumer_no: row for row in rows}


async def meters(db: Database) -> dict[str, Any]:
    async with db.uow() as uow:
        rows = (await uow.session.execute(select(*Meter.__table__.c))).all()
    return {row.meter_id: row for row in rows}


async def ledger(db: Database) -> list[tuple[Any, ...]]:
    async with db.uow() as uow:
        rows = await uow.session.execute(
            select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.amount_paise,
                   LedgerEntry.bill_month, LedgerEntry.due_date, LedgerEntry.idempotency_key,
                   LedgerEntry.posted_at)
            .order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows]


async def dues_of(db: Database, consumer_no: str) -> Dues:
    async with db.uow() as uow:
        consumer_id = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == consumer_no))
        assert consumer_id is not None
        return await load_dues(uow.session, consumer_id)


async def count(db: Database, model: Any) -> int:
    async with db.uow() as uow:
        return await uow.session.scalar(select(func.count()).select_from(model))


# --- consumers ---------------------------------------------------------------------------------


async def test_importing_consumers_stores_normalised_numbers_and_mobiles(
    db: Database, tmp_path: Path
) -> None:
    report = await run(
        db, "consumers", tmp_path, CONSUMERS_HEADER,
        "1000000001,Ramesh Kumar,9876543210,LV1,Indore East",
        "१०००००००02,सीता देवी,+919876543211,LV1,Indore West",
        "1000-000-003,No Phone,,LV2,Dewas",
        "1000000004,Spaced Mobile,+91 98765 43212,HV3,Ujjain",
    )

    assert report == ImportReport("consumers", rows_read=4, rows_written=4, rows_unchanged=0,
                                  errors=[])
    stored = await consumers(db)
    assert sorted(stored) == ["1000000001", "1000000002", "1000000003", "1000000004"]
    assert stored["1000000001"].mobile == "+919876543210"
    assert stored["1000000002"].mobile == "+919876543211"
    assert stored["1000000002"].name == "सीता देवी"
    assert stored["1000000003"].mobile is None
    assert stored["1000000004"].mobile == "+919876543212"
    assert (stored["1000000004"].tariff_category, stored["1000000004"].division) == (
        "HV3", "Ujjain")


async def test_a_changed_consumer_is_updated_in_place_and_the_rest_left_alone(
    db: Database, tmp_path: Path
) -> None:
    await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
              "1000000001,Ramesh Kumar,9876543210,LV1,Indore East",
              "1000000002,Sita Devi,,LV1,Indore West")
    before = await consumers(db)

    report = await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
                       "1000000001,Ramesh Kumar,9876543210,LV1,Indore East",
                       "1000000002,Sita Devi,8765432109,LV2,Indore West")

    assert (report.rows_written, report.rows_unchanged) == (1, 1)
    after = await consumers(db)
    assert after["1000000002"].id == before["1000000002"].id
    assert (after["1000000002"].mobile, after["1000000002"].tariff_category) == (
        "+918765432109", "LV2")
    assert after["1000000002"].updated_at > before["1000000002"].updated_at
    assert after["1000000001"].updated_at == before["1000000001"].updated_at


# --- meters ------------------------------------------------------------------------------------


async def test_importing_meters_links_them_to_their_consumers(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001", "1000000002")

    report = await run(db, "meters", tmp_path, METERS_HEADER,
                       "HPL-0001,1000000001,true,connected",
                       "HPL-0002,1000000002,FALSE,Disconnected")

    assert (report.rows_written, report.errors) == (2, [])
    stored, people = await meters(db), await consumers(db)
    assert stored["HPL-0001"].consumer_id == people["1000000001"].id
    assert (stored["HPL-0001"].remote_switch, stored["HPL-0001"].relay_state) == (
        True, "connected")
    assert (stored["HPL-0002"].remote_switch, stored["HPL-0002"].relay_state) == (
        False, "disconnected")
    assert stored["HPL-0001"].relay_changed_at is None


async def test_a_reimport_never_overrides_the_relay_state_the_hes_owns(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001", "1000000002")
    await run(db, "meters", tmp_path, METERS_HEADER,
              "M1,1000000001,true,disconnected", "M2,1000000002,true,disconnected")
    async with db.uow() as uow:
        await uow.session.execute(update(Meter).values(relay_reason="non_payment"))
        await uow.commit()

    report = await run(db, "meters", tmp_path, METERS_HEADER,
                       "M1,1000000001,true,connected", "M2,1000000002,false,disconnected")

    assert (report.rows_written, report.rows_unchanged) == (1, 1)
    stored = await meters(db)
    assert stored["M1"].relay_state == "disconnected"
    assert stored["M1"].relay_reason == "non_payment"
    assert stored["M1"].relay_changed_at is None
    # Only remote_switch changed: the relay's story is untouched.
    assert stored["M2"].remote_switch is False
    assert stored["M2"].relay_reason == "non_payment"
    assert stored["M2"].relay_changed_at is None


async def test_a_meter_for_an_unknown_consumer_is_reported_and_skipped(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")

    report = await run(db, "meters", tmp_path, METERS_HEADER,
                       "M1,9999999999,true,connected",
                       "M2,1000000001,true,connected")

    assert [e.line for e in report.errors] == [2]
    assert "unknown consumer_no '9999999999'" in report.errors[0].message
    assert sorted(await meters(db)) == ["M2"]


# --- bills -------------------------------------------------------------------------------------


async def test_importing_bills_posts_one_exact_bill_entry_per_consumer_and_month(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001", "1000000002")

    report = await run(db, "bills", tmp_path, BILLS_HEADER,
                       "1000000001,2026-09,1234.5,2026-10-10",
                       "1000000001,2026-10,99.99,2026-11-10",
                       "1000000002,2026-10,\"1,00,000.00\",2026-11-12")

    assert (report.rows_written, report.errors) == (3, [])
    rows = await ledger(db)
    assert [(kind, amount, month, due, key) for _, kind, amount, month, due, key, _ in rows] == [
        ("bill", 123450, "2026-09", date(2026, 10, 10), "bill/1000000001/2026-09"),
        ("bill", 9999, "2026-10", date(2026, 11, 10), "bill/1000000001/2026-10"),
        ("bill", 10000000, "2026-10", date(2026, 11, 12), "bill/1000000002/2026-10"),
    ]
    dues = await dues_of(db, "1000000001")
    assert (dues.current_bill, dues.arrears, dues.bill_month, dues.due_date) == (
        9999, 123450, "2026-10", date(2026, 11, 10))


async def test_reimporting_a_bill_with_a_new_amount_appends_an_adjustment(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")
    await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500.00,2026-11-10")
    original = await ledger(db)

    report = await run(db, "bills", tmp_path, BILLS_HEADER,
                       "1000000001,2026-10,650.25,2026-11-15")

    assert (report.rows_written, report.rows_unchanged) == (1, 0)
    rows = await ledger(db)
    assert rows[0] == original[0]  # the bill itself is never edited
    _, kind, amount, month, due, key, _ = rows[1]
    assert (kind, amount, month, due, key) == (
        "adjustment", 15025, "2026-10", date(2026, 11, 15), "bill/1000000001/2026-10/1")
    dues = await dues_of(db, "1000000001")
    assert (dues.current_bill, dues.due_date) == (65025, date(2026, 11, 15))


async def test_reimporting_a_bill_with_a_lower_amount_and_back_nets_to_each_new_amount(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")
    await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500,2026-11-10")
    original = await ledger(db)

    await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,420.50,2026-11-10")
    assert (await dues_of(db, "1000000001")).current_bill == 42050
    await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500,2026-11-10")
    assert (await dues_of(db, "1000000001")).current_bill == 50000
    again = await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500,2026-11-10")

    assert (again.rows_written, again.rows_unchanged) == (0, 1)
    rows = await ledger(db)
    assert rows[0] == original[0]
    assert [(kind, amount, key) for _, kind, amount, _, _, key, _ in rows[1:]] == [
        ("adjustment", -7950, "bill/1000000001/2026-10/1"),
        ("adjustment", 7950, "bill/1000000001/2026-10/2"),
    ]


async def test_a_bill_revised_to_zero_clears_the_month(db: Database, tmp_path: Path) -> None:
    await seed_consumers(db, tmp_path, "1000000001")
    await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500,2026-11-10")

    report = await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,0,2026-11-10")

    assert (report.rows_written, report.errors) == (1, [])
    assert [row[2] for row in await ledger(db)] == [50000, -50000]
    assert (await dues_of(db, "1000000001")).total == 0


async def test_a_zero_bill_for_a_month_not_yet_billed_is_reported_and_writes_nothing(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")

    report = await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,0.00,2026-11-10")

    assert report.errors == [
        RowError(2, "amount is zero and 2026-10 has no bill yet: nothing to record")]
    assert await ledger(db) == []


async def test_adjustments_posted_by_others_are_not_undone_by_a_reimport(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")
    await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500,2026-11-10")
    async with db.uow() as uow:
        consumer_id = (await consumers(db))["1000000001"].id
        uow.session.add(LedgerEntry(
            consumer_id=consumer_id, kind="adjustment", amount_paise=-10000,
            bill_month="2026-10", detail="surcharge waiver", idempotency_key="ops/waiver/1",
            posted_at=datetime.now(UTC)))
        await uow.commit()

    report = await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,500,2026-11-10")

    assert (report.rows_written, report.rows_unchanged) == (0, 1)
    assert (await dues_of(db, "1000000001")).current_bill == 40000


# --- idempotency and batches -------------------------------------------------------------------


async def test_reimporting_the_same_files_writes_nothing(db: Database, tmp_path: Path) -> None:
    files = [
        ("consumers", write(tmp_path, "c.csv", CONSUMERS_HEADER,
                            "1000000001,Ramesh Kumar,9876543210,LV1,Indore East",
                            "1000000002,Sita Devi,,LV1,Indore West")),
        ("meters", write(tmp_path, "m.csv", METERS_HEADER,
                         "M1,1000000001,true,disconnected", "M2,1000000002,false,connected")),
        ("bills", write(tmp_path, "b.csv", BILLS_HEADER,
                        "1000000001,2026-09,100,2026-10-10", "1000000001,2026-10,200,2026-11-10",
                        "1000000002,2026-10,300.50,2026-11-10")),
    ]
    for kind, path in files:
        await import_csv(db, kind, path, batch_size=2)
    before = (await consumers(db), await meters(db), await ledger(db))

    reports = [await import_csv(db, kind, path, batch_size=2) for kind, path in files]

    assert [(r.rows_read, r.rows_written, r.rows_unchanged, r.errors) for r in reports] == [
        (2, 0, 2, []), (2, 0, 2, []), (3, 0, 3, [])]
    after = (await consumers(db), await meters(db), await ledger(db))
    assert {k: (c.id, c.updated_at) for k, c in after[0].items()} == {
        k: (c.id, c.updated_at) for k, c in before[0].items()}
    assert {k: (m.id, m.relay_changed_at) for k, m in after[1].items()} == {
        k: (m.id, m.relay_changed_at) for k, m in before[1].items()}
    assert after[2] == before[2]


async def test_a_crash_mid_file_keeps_whole_batches_and_a_rerun_completes(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "c.csv", CONSUMERS_HEADER,
                 *(f"100000000{i},Consumer {i},,LV1,Indore" for i in range(5)))
    calls = 0
    real_now = importer.utcnow

    def crash_on_second_batch() -> datetime:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("power cut")
        return real_now()

    monkeypatch.setattr(importer, "utcnow", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        await import_csv(db, "consumers", path, batch_size=2)
    assert sorted(await consumers(db)) == ["1000000000", "1000000001"]

    report = await import_csv(db, "consumers", path, batch_size=2)

    assert (report.rows_written, report.rows_unchanged) == (3, 2)
    assert len(await consumers(db)) == 5


async def test_progress_is_reported_for_every_row(db: Database, tmp_path: Path) -> None:
    seen: list[int] = []
    await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
              *(f"100000000{i},Consumer {i},,LV1,Indore" for i in range(5)), "bad row",
              batch_size=2, on_progress=seen.append)

    assert seen == [2, 2, 2]


# --- bad input ---------------------------------------------------------------------------------


async def test_bad_consumer_rows_are_reported_with_line_numbers_while_good_rows_land(
    db: Database, tmp_path: Path
) -> None:
    report = await run(
        db, "consumers", tmp_path, CONSUMERS_HEADER,
        "1000000001,Good One,9876543210,LV1,Indore",
        "1000000002,Too Few Columns,LV1,Indore",
        "1000000003,Bad Mobile,12345,LV1,Indore",
        "12,Short Number,,LV1,Indore",
        f"1000000004,{'x' * 121},,LV1,Indore",
        "1000000005,,,LV1,Indore",
        "",
        "1000000006,Good Two,,LV1,Indore",
    )

    assert [(e.line, e.message) for e in report.errors] == [
        (3, "expected 5 columns, found 4"),
        (5, "consumer_no '12': consumer number must be 6-20 letters or digits"),
        (6, "name is 121 characters long, at most 120 allowed"),
        (7, "name is empty"),
    ]
    assert [(w.line, w.message) for w in report.warnings] == [
        (4, "mobile is not a valid Indian phone number; imported without a mobile for SMS/OTP"),
    ]
    assert (report.rows_read, report.rows_written) == (7, 3)
    assert sorted(await consumers(db)) == ["1000000001", "1000000003", "1000000006"]


async def test_a_consumer_with_a_landline_or_junk_mobile_is_imported_and_can_be_billed(
    db: Database, tmp_path: Path
) -> None:
    report = await run(
        db, "consumers", tmp_path, CONSUMERS_HEADER,
        "1000000001,Landline,07312345678,LV1,Indore",
        "1000000002,Not Known,NA,LV1,Indore",
        "1000000003,Placeholder,9999999999,LV1,Indore",
    )
    bills = await run(db, "bills", tmp_path, BILLS_HEADER, "1000000001,2026-10,512.50,2026-11-10")

    assert report.errors == [] and bills.errors == []
    assert [w.line for w in report.warnings] == [2, 3, 4]
    stored = await consumers(db)
    assert [(stored[no].mobile, stored[no].mobile_raw) for no in sorted(stored)] == [
        (None, "07312345678"), (None, "NA"), (None, "9999999999")]
    assert (await dues_of(db, "1000000001")).total == 51250


async def test_a_corrected_mobile_replaces_the_raw_value_on_reimport(
    db: Database, tmp_path: Path
) -> None:
    await run(db, "consumers", tmp_path, CONSUMERS_HEADER, "1000000001,R,NA,LV1,Indore")
    report = await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
                       "1000000001,R,9876543210,LV1,Indore")

    assert (report.rows_written, report.warnings) == (1, [])
    stored = (await consumers(db))["1000000001"]
    assert (stored.mobile, stored.mobile_raw) == ("+919876543210", None)


async def test_feeder_code_is_stored_from_an_optional_column(
    db: Database, tmp_path: Path
) -> None:
    report = await run(db, "consumers", tmp_path, CONSUMERS_HEADER + ",samagra_id,feeder_code",
                       "1000000001,R,,LV1,Indore,12345678,FDR-07",
                       "1000000002,S,,LV1,Indore,,",
                       pii_vault=lambda: PiiVault(parse_keys(Fernet.generate_key().decode())))
    again = await run(db, "consumers", tmp_path, CONSUMERS_HEADER + ",feeder_code",
                      "1000000001,R,,LV1,Indore,FDR-07")

    assert (report.rows_written, report.errors, report.warnings) == (2, [], [])
    assert again.rows_unchanged == 1
    stored = await consumers(db)
    assert (stored["1000000001"].feeder_code, stored["1000000002"].feeder_code) == (
        "FDR-07", None)


async def test_bad_bill_rows_are_reported_with_line_numbers_while_good_rows_land(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")

    report = await run(
        db, "bills", tmp_path, BILLS_HEADER,
        "1000000001,2026-10,12.345,2026-11-10",
        "1000000001,2026-13,100,2026-11-10",
        "1000000001,2026-10,100,10/11/2026",
        "1000000001,2026-10,-100,2026-11-10",
        "9999999999,2026-10,100,2026-11-10",
        "1000000001,2026-10,1234.5,2026-11-31",
        "1000000001,2026-10,1234.5,2026-11-30",
    )

    assert [(e.line, e.message) for e in report.errors] == [
        (2, "amount '12.345': must be rupees with at most two decimals"),
        (3, "bill_month '2026-13': must be YYYY-MM"),
        (4, "due_date '10/11/2026': must be a date YYYY-MM-DD"),
        (5, "amount '-100': must be rupees with at most two decimals"),
        (6, "unknown consumer_no '9999999999' (import consumers first)"),
        (7, "due_date '2026-11-31': must be a date YYYY-MM-DD"),
    ]
    assert [row[2] for row in await ledger(db)] == [123450]


async def test_bad_meter_rows_are_reported_with_line_numbers(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")

    report = await run(db, "meters", tmp_path, METERS_HEADER,
                       "M1,1000000001,yes,connected",
                       "M2,1000000001,true,on",
                       f"{'M' * 41},1000000001,true,connected",
                       "M4,1000000001,true,ready_for_reconnection")

    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [
        (2, "remote_switch 'yes'"),
        (3, "relay_state 'on'"),
        (4, "meter_id is 41 characters long, at most 40 allowed"),
    ]
    assert sorted(await meters(db)) == ["M4"]


async def test_undecodable_bytes_and_broken_quotes_reject_only_their_rows(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "consumers.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + CONSUMERS_HEADER.encode() + b"\n"  # a spreadsheet's byte order mark
        b"1000000001,Caf\xe9,,LV1,Indore\n"  # Latin-1, not UTF-8
        b'1000000002,"Quoted" name,,LV1,Indore\n'
        b"1000000003,Nul\x00Byte,,LV1,Indore\n"
        b'1000000004,"Multi\nline",,LV1,Indore\n'
        b"1000000005,Fine,,LV1,Indore\n"
    )

    report = await import_csv(db, "consumers", path)

    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [
        (2, "not valid UTF-8"),
        (3, "broken CSV"),
        (4, "a field holds a control character (tab, line break, NUL...)"),
        (5, "a field holds a control character (tab, line break, NUL...)"),
    ]
    assert sorted(await consumers(db)) == ["1000000005"]


async def test_a_repeated_consumer_in_one_batch_keeps_the_first_row_and_reports_the_rest(
    db: Database, tmp_path: Path
) -> None:
    # On PostgreSQL one INSERT .. ON CONFLICT touching a row twice is an error: never sent.
    report = await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
                       "1000000001,First,,LV1,Indore",
                       "1000000002,Other,,LV1,Indore",
                       "१०००००००01,Second,,LV1,Indore",
                       "1000000001,Third,,LV1,Indore")

    assert [(e.line, e.message) for e in report.errors] == [
        (4, "consumer_no 1000000001 repeats line 2; skipped"),
        (5, "consumer_no 1000000001 repeats line 2; skipped"),
    ]
    assert (await consumers(db))["1000000001"].name == "First"


async def test_a_repeated_bill_month_across_batches_is_reported_and_a_rerun_writes_nothing(
    db: Database, tmp_path: Path
) -> None:
    await seed_consumers(db, tmp_path, "1000000001")
    path = write(tmp_path, "b.csv", BILLS_HEADER,
                 "1000000001,2026-10,100,2026-11-10",
                 "1000000001,2026-11,100,2026-12-10",
                 "1000000001,2026-10,900,2026-11-10")

    first = await import_csv(db, "bills", path, batch_size=2)
    second = await import_csv(db, "bills", path, batch_size=2)

    assert [e.line for e in first.errors] == [4]
    assert (first.rows_written, second.rows_written) == (2, 0)
    assert [row[2] for row in await ledger(db)] == [10000, 10000]


async def test_columns_may_come_in_any_order(db: Database, tmp_path: Path) -> None:
    report = await run(db, "consumers", tmp_path,
                       " Division , NAME,consumer_no,tariff_category,mobile",
                       "Indore,Ramesh,1000000001,LV1,9876543210")

    assert report.errors == []
    stored = (await consumers(db))["1000000001"]
    assert (stored.name, stored.division, stored.mobile) == ("Ramesh", "Indore", "+919876543210")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((), "no header row"),
        (("1000000001,Ramesh,,LV1,Indore",), "not a consumers file"),
        (("consumer_no,name,mobile,tariff_category",), "missing division"),
        ((CONSUMERS_HEADER + ",email",), "unexpected 'email'"),
        ((METERS_HEADER,), "it looks like a meters file"),
    ],
)
async def test_a_file_without_the_right_header_is_refused_as_a_whole(
    db: Database, tmp_path: Path, lines: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "consumers.csv"
    path.write_text("\n".join(lines), encoding="utf-8")

    with pytest.raises(ImportFileError, match=message):
        await import_csv(db, "consumers", path)
    assert await count(db, Consumer) == 0


async def test_a_missing_file_is_an_import_file_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read the file"):
        await import_csv(db, "consumers", tmp_path / "absent.csv")


async def test_a_mobile_verified_in_a_chat_survives_a_billing_reimport(
    db: Database, tmp_path: Path
) -> None:
    await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
              "1000000001,Asha Devi,9876543210,LV1,Indore East")
    await record_mobile_change(db, "1000000001", "+919812345670")

    renamed = await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
                        "1000000001,Asha Devi Sharma,9876543210,LV1,Indore East")
    unchanged = await run(db, "consumers", tmp_path, CONSUMERS_HEADER,
                          "1000000001,Asha Devi Sharma,9876543210,LV1,Indore East")

    stored = await consumers(db)
    assert stored["1000000001"].mobile == "+919812345670"
    assert stored["1000000001"].name == "Asha Devi Sharma"
    assert (renamed.rows_written, renamed.kept_verified_mobiles) == (1, [2])
    # Only the mobile differs, and it is kept: nothing is written, and the report says why.
    assert (unchanged.rows_written, unchanged.rows_unchanged) == (0, 1)
    assert unchanged.kept_verified_mobiles == [2]


async def record_mobile_change(db: Database | str, consumer_no: str, new_mobile: str) -> None:
    """What the chat's mobile change stores once the OTP to `new_mobile` is verified."""
    if isinstance(db, str):
        database = Database(db)
        try:
            return await record_mobile_change(database, consumer_no, new_mobile)
        finally:
            await database.dispose()
    now = datetime.now(UTC)
    async with db.uow() as uow:
        consumer = await uow.session.scalar(
            select(Consumer).where(Consumer.consumer_no == consumer_no))
        old_mobile, consumer.mobile = consumer.mobile, new_mobile
        chat = Chat(channel="console", external_id=f"chat-{consumer_no}", language="hi",
                    language_chosen=True, created_at=now, last_inbound_at=now)
        uow.session.add(chat)
        await uow.session.flush()
        otp = OtpChallenge(purpose="mobile_change", consumer_id=consumer.id, chat_id=chat.id,
                           target_mobile=new_mobile, status="verified",
                           expires_at=now, created_at=now)
        uow.session.add(otp)
        await uow.session.flush()
        uow.session.add(MobileChange(consumer_id=consumer.id, old_mobile=old_mobile,
                                     new_mobile=new_mobile, chat_id=chat.id,
                                     otp_challenge_id=otp.id, old_mobile_notified=True,
                                     changed_at=now))
        await uow.commit()
