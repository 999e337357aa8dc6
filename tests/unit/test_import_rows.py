"""Parsing and planning of import rows: pure functions, no database."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest

from discom.importer import (
    BillRow,
    BrokenRecord,
    ImportFileError,
    MonthState,
    RowInvalid,
    column_order,
    parse_bill,
    parse_consumer,
    parse_meter,
    parse_record,
    plan_bill,
    read_records,
)

NOW = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "paise"),
    [("1234.5", 123450), ("1234.50", 123450), ("0.01", 1), ("7", 700), ("1,23,456.78", 12345678),
     ("१२३.४५", 12345)],
)
def test_a_bill_amount_is_parsed_exactly_into_paise(text: str, paise: int) -> None:
    row = parse_bill(2, ["1000000001", "2026-10", text, "2026-11-10"])
    assert row.amount_paise == paise


@pytest.mark.parametrize("text", ["12.345", "-5", "1e3", "", "₹100", "12.", "0x10", "nan"])
def test_an_amount_that_is_not_plain_rupees_with_two_decimals_is_rejected(text: str) -> None:
    with pytest.raises(RowInvalid, match="amount"):
        parse_bill(2, ["1000000001", "2026-10", text, "2026-11-10"])


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "2026-10-01"])
def test_a_bill_month_must_be_yyyy_mm(text: str) -> None:
    with pytest.raises(RowInvalid, match="bill_month"):
        parse_bill(2, ["1000000001", text, "1", "2026-11-10"])


@pytest.mark.parametrize("text", ["2026-02-29", "10-11-2026", "2026-11-1", "20261110", "2026-W45"])
def test_a_due_date_must_be_a_real_yyyy_mm_dd_date(text: str) -> None:
    with pytest.raises(RowInvalid, match="due_date"):
        parse_bill(2, ["1000000001", "2026-10", "1", text])


def test_devanagari_digits_in_a_bill_row_become_ascii() -> None:
    row = parse_bill(7, ["१०००००००01", "२०२६-१०", "100", "२०२६-११-१०"])
    assert row == BillRow(7, "1000000001", "2026-10", 10000, date(2026, 11, 10))


def test_a_consumer_row_normalises_number_and_mobile() -> None:
    row = parse_consumer(3, ["१००० ००० ००१", "Ramesh", "+91 98765-43210", "LV1", "Indore"])
    assert (row.line, row.consumer_no, row.mobile) == (3, "1000000001", "+919876543210")


@pytest.mark.parametrize("mobile", ["9876543210", "+919876543210", "09876543210", "919876543210"])
def test_an_indian_mobile_with_or_without_country_code_is_stored_as_e164(mobile: str) -> None:
    assert parse_consumer(2, ["1000000001", "R", mobile, "LV1", "X"]).mobile == "+919876543210"


def test_an_empty_mobile_is_none_and_a_landline_is_rejected() -> None:
    assert parse_consumer(2, ["1000000001", "R", "", "LV1", "X"]).mobile is None
    with pytest.raises(RowInvalid, match="mobile"):
        parse_consumer(2, ["1000000001", "R", "07312345678", "LV1", "X"])  # Indore landline


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["", "R", "", "LV1", "X"], "consumer_no"),
        (["1000000001", "R", "", "", "X"], "tariff_category is empty"),
        (["1000000001", "R", "", "T" * 21, "X"], "tariff_category is 21 characters"),
        (["1000000001", "R", "", "LV1", "D" * 61], "division is 61 characters"),
    ],
)
def test_a_consumer_row_with_a_missing_or_overlong_field_is_rejected(
    values: list[str], message: str
) -> None:
    with pytest.raises(RowInvalid, match=message):
        parse_consumer(2, values)


def test_a_meter_row_accepts_any_case_for_switch_and_state() -> None:
    row = parse_meter(2, ["HPL-1", "1000000001", "True", "READY_FOR_RECONNECTION"])
    assert (row.remote_switch, row.relay_state) == (True, "ready_for_reconnection")


def test_parse_record_strips_fields_and_checks_the_column_count() -> None:
    order = column_order("meters", ["relay_state", "meter_id", "consumer_no", "remote_switch"])
    row = parse_record("meters", order, 9, [" connected ", " M1 ", "1000000001", "false"])
    assert (row.line, row.key, row.relay_state) == (9, "M1", "connected")
    with pytest.raises(RowInvalid, match="expected 4 columns, found 5"):
        parse_record("meters", order, 9, ["a", "b", "c", "d", "e"])


def test_a_header_is_matched_by_name_ignoring_case_and_spaces() -> None:
    assert column_order("bills", [" Amount", "DUE_DATE", "consumer_no", "bill_month"]) == (
        2, 3, 0, 1)
    with pytest.raises(ImportFileError, match="repeated amount"):
        column_order("bills", ["consumer_no", "bill_month", "amount", "due_date", "amount"])


def test_records_carry_the_line_they_start_on_across_quoted_line_breaks() -> None:
    text = 'h1,h2\n"a\nb",c\n\nd,e\n"x"y,z\nf,g\n'
    records = list(read_records(io.StringIO(text, newline="")))
    assert records == [
        (1, ["h1", "h2"]),
        (2, ["a\nb", "c"]),
        (4, []),
        (5, ["d", "e"]),
        (6, BrokenRecord("broken CSV: ',' expected after '\"'")),
        (7, ["f", "g"]),
    ]


def _bill(amount_paise: int) -> BillRow:
    return BillRow(2, "1000000001", "2026-10", amount_paise, date(2026, 11, 10))


def test_a_new_month_plans_a_bill_keyed_by_consumer_and_month() -> None:
    entry = plan_bill(_bill(50000), 42, None, NOW)
    assert entry == {
        "consumer_id": 42, "kind": "bill", "amount_paise": 50000, "bill_month": "2026-10",
        "due_date": date(2026, 11, 10), "posted_at": NOW,
        "idempotency_key": "bill/1000000001/2026-10", "detail": None,
    }


def test_a_billed_month_plans_an_adjustment_for_the_difference_from_its_net() -> None:
    state = MonthState(net_paise=45000, entries=2, has_bill=True)
    entry = plan_bill(_bill(50000), 42, state, NOW)
    assert entry is not None
    assert (entry["kind"], entry["amount_paise"], entry["idempotency_key"]) == (
        "adjustment", 5000, "bill/1000000001/2026-10/2")
    assert plan_bill(_bill(45000), 42, state, NOW) is None
    assert plan_bill(_bill(0), 42, state, NOW)["amount_paise"] == -45000  # type: ignore[index]


def test_a_zero_bill_for_an_unbilled_month_is_a_row_error() -> None:
    with pytest.raises(RowInvalid, match="zero"):
        plan_bill(_bill(0), 42, None, NOW)
