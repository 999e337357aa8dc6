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


def test_an_empty_mobile_is_none_without_a_warning() -> None:
    row = parse_consumer(2, ["1000000001", "R", "", "LV1", "X"])
    assert (row.mobile, row.mobile_raw, row.warnings) == (None, None, ())


@pytest.mark.parametrize(
    ("mobile", "why"),
    [
        ("07312345678", "a landline"),  # Indore, with the trunk prefix
        ("7312345678", "a landline"),  # the same without it: a fixed-line series
        ("0", "not a phone number"),
        ("NA", "not a phone number"),
        ("9999999999", "a placeholder, not a real number"),
        ("0000000000", "a placeholder, not a real number"),
        ("12345", "not a valid Indian phone number"),
    ],
)
def test_an_unusable_mobile_imports_the_consumer_without_one_and_keeps_the_raw_value(
    mobile: str, why: str
) -> None:
    row = parse_consumer(7, ["1000000001", "R", mobile, "LV1", "X"])
    assert (row.consumer_no, row.mobile, row.mobile_raw) == ("1000000001", None, mobile)
    assert row.warnings == (f"mobile is {why}; imported without a mobile for SMS/OTP",)


def test_a_warning_never_shows_the_number_itself() -> None:
    row = parse_consumer(7, ["1000000001", "R", "07312345678", "LV1", "X"])
    assert "7312345678" not in " ".join(row.warnings)


def test_optional_columns_may_come_in_any_order_after_the_required_ones() -> None:
    header = ["consumer_no", "name", "mobile", "tariff_category", "division", "feeder_code",
              "samagra_id"]
    layout = column_order("consumers", header)
    row = parse_record("consumers", layout, 4,
                       ["1000000001", "R", "", "LV1", "X", " FDR-11 ", "१२३४५६७८९"])
    assert (row.feeder_code, row.samagra_id, row.warnings) == ("FDR-11", "123456789", ())
    with pytest.raises(RowInvalid, match="expected 7 columns, found 5"):
        parse_record("consumers", layout, 5, ["1000000001", "R", "", "LV1", "X"])


def test_files_without_the_optional_columns_parse_as_before() -> None:
    layout = column_order("consumers", ["consumer_no", "name", "mobile", "tariff_category",
                                        "division"])
    row = parse_record("consumers", layout, 2, ["1000000001", "R", "", "LV1", "X"])
    assert (row.feeder_code, row.samagra_id) == (None, None)


@pytest.mark.parametrize(("samagra_id", "kept"),
                         [("12345678", "12345678"), ("123 456 789", "123456789"), ("", None)])
def test_a_samagra_id_of_8_or_9_digits_is_passed_through(samagra_id: str, kept: str) -> None:
    row = parse_consumer(2, ["1000000001", "R", "", "LV1", "X"], {"samagra_id": samagra_id})
    assert (row.samagra_id, row.warnings) == (kept, ())


@pytest.mark.parametrize("samagra_id", ["1234567", "1234567890", "12AB5678"])
def test_a_malformed_samagra_id_is_a_warning_and_the_consumer_still_imports(
    samagra_id: str
) -> None:
    row = parse_consumer(2, ["1000000001", "R", "9876543210", "LV1", "X"],
                         {"samagra_id": samagra_id})
    assert (row.consumer_no, row.mobile, row.samagra_id) == ("1000000001", "+919876543210", None)
    assert len(row.warnings) == 1 and row.warnings[0].startswith("samagra_id: ")


def test_an_overlong_feeder_code_is_a_warning_not_a_refusal() -> None:
    row = parse_consumer(2, ["1000000001", "R", "", "LV1", "X"], {"feeder_code": "F" * 21})
    assert row.feeder_code is None
    assert row.warnings == ("feeder_code is 21 characters long, at most 20 allowed;"
                            " imported without it",)


def test_an_unknown_column_is_still_refused_as_a_whole_file() -> None:
    with pytest.raises(ImportFileError, match="unexpected 'ward'"):
        column_order("consumers", ["consumer_no", "name", "mobile", "tariff_category",
                                   "division", "ward"])


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
    assert column_order("bills", [" Amount", "DUE_DATE", "consumer_no", "bill_month"]).required \
        == (2, 3, 0, 1)
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
