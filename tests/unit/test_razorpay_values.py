"""The values of a Razorpay event, checked before crediting (discom.payments.razorpay_values)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from discom.payments.links import new_reference
from discom.payments.razorpay_values import (
    MAX_AMOUNT_PAISE,
    Refused,
    bijli_reference_consumer_no,
    captured_payment,
    processed_refund,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
PAYMENT = {"id": "pay_Qfldmt5StKZFCB", "amount": 287_000, "currency": "INR",
           "created_at": 1_764_900_000, "method": "upi", "status": "captured"}


def test_a_rupee_payment_is_read_as_paise_at_its_time():
    payment = captured_payment(PAYMENT, NOW)
    assert (payment.id, payment.amount_paise, payment.method) == (
        "pay_Qfldmt5StKZFCB", 287_000, "upi")
    assert payment.paid_at == datetime.fromtimestamp(1_764_900_000, UTC)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("currency", "USD", "currency"), ("amount", True, "amount_type"),
    ("amount", 2870.0, "amount_type"), ("amount", "287000", "amount_type"),
    ("amount", -1, "amount_range"), ("amount", MAX_AMOUNT_PAISE + 1, "amount_range"),
    ("created_at", 10**20, "time_range"), ("created_at", 1.5e9, "time_type"),
    ("created_at", 1_000_000_000, "time_range"), ("id", "order_X", "payment_id"),
])
def test_each_bad_value_is_refused_with_its_reason(field: str, value: Any, reason: str):
    with pytest.raises(Refused) as refused:
        captured_payment(PAYMENT | {field: value}, NOW)
    assert refused.value.reason == reason


def test_a_refund_names_the_payment_it_gives_back():
    refund = processed_refund({"id": "rfnd_FS8TWyPrCsa0OB", "payment_id": "pay_FPoJKWQQ8lK13n",
                               "amount": 500, "currency": "INR", "created_at": 1_764_900_000},
                              NOW)
    assert (refund.id, refund.payment_id, refund.amount_paise) == (
        "rfnd_FS8TWyPrCsa0OB", "pay_FPoJKWQQ8lK13n", 500)


@pytest.mark.parametrize("consumer_no", ["1000000001", "N3456789012345678901", "ABC123"])
def test_the_references_bijli_makes_name_their_consumer(consumer_no: str):
    """If links.new_reference changes shape, crediting lost links by reference must follow."""
    assert bijli_reference_consumer_no(new_reference(consumer_no)) == consumer_no


@pytest.mark.parametrize("reference", [None, 23, "23", "dashboard-1", "BJ1000000001",
                                       "BJ1000000001-0123456789AB"])
def test_other_references_name_no_one(reference: Any):
    assert bijli_reference_consumer_no(reference) is None
