"""Dues derived from ledger entries: oldest debt is settled first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from discom.ledger import REFUND_DETAIL, Entry, compute_dues

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def bill(month: str, paise: int, day: int = 0) -> Entry:
    return Entry("bill", paise, T0 + timedelta(days=day), month, date.fromisoformat(f"{month}-20"))


def payment(paise: int, day: int = 0) -> Entry:
    return Entry("payment", -paise, T0 + timedelta(days=day))


def charge(paise: int, day: int = 0, detail: str = "reconnection") -> Entry:
    return Entry("charge", paise, T0 + timedelta(days=day), detail=detail)


def test_an_empty_ledger_owes_nothing():
    dues = compute_dues([])
    assert dues.total == 0 and dues.is_clear and dues.bill_month is None


def test_the_latest_bill_is_current_and_earlier_ones_are_arrears():
    dues = compute_dues([bill("2026-09", 1000), bill("2026-10", 2000, 30)])
    assert (dues.current_bill, dues.arrears, dues.total) == (2000, 1000, 3000)
    assert dues.due_date == date(2026, 10, 20)


def test_a_payment_settles_arrears_before_the_current_bill():
    dues = compute_dues([bill("2026-09", 1000), bill("2026-10", 2000, 30), payment(1500, 31)])
    assert (dues.arrears, dues.current_bill, dues.total) == (0, 1500, 1500)


def test_charges_are_settled_after_arrears_and_before_the_current_bill():
    entries = [bill("2026-09", 1000), bill("2026-10", 2000, 30), charge(300, 35), payment(1200, 40)]
    dues = compute_dues(entries)
    assert (dues.arrears, dues.charges, dues.current_bill) == (0, 100, 2000)


def test_overpayment_becomes_advance_credit():
    dues = compute_dues([bill("2026-10", 2000), payment(2500)])
    assert (dues.total, dues.advance, dues.current_billed) == (0, 500, 2000)


def test_a_bill_revision_is_an_adjustment_of_that_month():
    revised_down = Entry("adjustment", -400, T0, "2026-10", date(2026, 10, 25))
    dues = compute_dues([bill("2026-10", 2000), revised_down])
    assert (dues.current_bill, dues.due_date) == (1600, date(2026, 10, 25))


def test_a_bill_revised_below_zero_is_a_credit():
    dues = compute_dues([bill("2026-09", 1000), bill("2026-10", 500, 30),
                         Entry("adjustment", -800, T0, "2026-10", None)])
    assert (dues.current_bill, dues.arrears, dues.advance) == (0, 700, 0)


def test_a_credit_adjustment_without_month_is_money_in():
    dues = compute_dues([bill("2026-10", 2000), Entry("adjustment", -500, T0)])
    assert dues.total == 1500


def test_overdue_only_after_the_due_date_and_only_with_something_to_pay():
    dues = compute_dues([bill("2026-10", 2000)])
    assert not dues.is_overdue(date(2026, 10, 20))
    assert dues.is_overdue(date(2026, 10, 21))
    assert not compute_dues([bill("2026-10", 2000), payment(2000)]).is_overdue(date(2026, 12, 1))


def test_the_total_always_equals_the_ledger_balance_when_owed():
    entries = [bill("2026-08", 700), bill("2026-09", 900, 30), charge(150, 40), payment(300, 41),
               Entry("adjustment", 50, T0, "2026-09", None), bill("2026-10", 1100, 60)]
    dues = compute_dues(entries)
    assert dues.total - dues.advance == sum(e.amount_paise for e in entries)


def test_a_refund_takes_back_money_in_and_reopens_the_bill_it_paid_not_a_charge():
    refund = Entry("adjustment", 40_000, T0 + timedelta(days=3), detail=REFUND_DETAIL)
    dues = compute_dues([bill("2026-10", 30_000), bill("2026-11", 50_000, 1),
                         payment(80_000, 2), refund])
    assert (dues.arrears, dues.current_bill, dues.charges, dues.total) == (0, 40_000, 0, 40_000)


def test_a_refund_of_an_advance_only_reduces_the_advance():
    refund = Entry("adjustment", 10_000, T0 + timedelta(days=3), detail=REFUND_DETAIL)
    dues = compute_dues([bill("2026-11", 50_000), payment(70_000, 1), refund])
    assert (dues.total, dues.advance) == (0, 10_000)
