"""The values of a signed Razorpay event, checked before anything is credited. Pure: no I/O.

A valid signature says the body came from Razorpay, not that it is a rupee payment Bijli
asked for: the account may take other currencies (international cards), and JSON lets a
field be `true`, `2870.0` or `"2870"` where an integer is meant — Python's `int` would take
`true` as 1 paisa. So money is a strict JSON integer of paise in a bounded range, the
currency is INR, identifiers look like Razorpay's, and times are Unix seconds between
Razorpay's beginning and a little after now (replays up to 7 days old are normal, so there is
no lower bound near now).

What fails is `Refused`, with a short `reason` (a metric label); the webhook answers 200
"refused" so that Razorpay stops redelivering something that will never be accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CURRENCY = "INR"
# ₹1 crore in one payment is far beyond any consumer's electricity bill; above it is an error.
MAX_AMOUNT_PAISE = 10**9
EARLIEST = datetime(2014, 1, 1, tzinfo=UTC)  # before Razorpay existed
CLOCK_SKEW = timedelta(days=1)
_PAYMENT_ID = re.compile(r"^pay_[A-Za-z0-9]{1,40}$")
_REFUND_ID = re.compile(r"^rfnd_[A-Za-z0-9]{1,40}$")
# The reference_id Bijli gives its links (discom.payments.links.new_reference).
_BIJLI_REFERENCE = re.compile(r"^BJ(?P<consumer_no>[A-Za-z0-9]{1,20})-[0-9a-f]{12}$")


class Refused(ValueError):
    """A signed event whose values Bijli will not act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CapturedPayment:
    id: str
    amount_paise: int
    paid_at: datetime
    method: str | None


@dataclass(frozen=True, slots=True)
class ProcessedRefund:
    id: str
    payment_id: str
    amount_paise: int
    refunded_at: datetime


def paise(value: Any) -> int:
    """A strict, bounded, positive integer amount (bool is an int subclass in Python)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("amount_type")
    if not 0 < value <= MAX_AMOUNT_PAISE:
        raise Refused("amount_range")
    return value


def timestamp(value: Any, now: datetime) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("time_type")
    if not EARLIEST.timestamp() <= value <= (now + CLOCK_SKEW).timestamp():
        raise Refused("time_range")
    return datetime.fromtimestamp(value, UTC)


def rupees_only(entity: dict[str, Any]) -> None:
    if entity.get("currency") != CURRENCY:
        raise Refused("currency")


def _identifier(value: Any, pattern: re.Pattern[str], reason: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise Refused(reason)
    return value


def captured_payment(entity: dict[str, Any], now: datetime) -> CapturedPayment:
    """A `payment` entity with status captured, as something Bijli may credit."""
    rupees_only(entity)
    method = entity.get("method")
    return CapturedPayment(
        id=_identifier(entity.get("id"), _PAYMENT_ID, "payment_id"),
        amount_paise=paise(entity.get("amount")),
        paid_at=timestamp(entity.get("created_at"), now),
        method=method[:30] if isinstance(method, str) else None)


def processed_refund(entity: dict[str, Any], now: datetime) -> ProcessedRefund:
    """A `refund` entity, as something Bijli may debit."""
    rupees_only(entity)
    return ProcessedRefund(
        id=_identifier(entity.get("id"), _REFUND_ID, "refund_id"),
        payment_id=_identifier(entity.get("payment_id"), _PAYMENT_ID, "payment_id"),
        amount_paise=paise(entity.get("amount")),
        refunded_at=timestamp(entity.get("created_at"), now))


def bijli_reference_consumer_no(reference: Any) -> str | None:
    """The consumer number inside a reference id Bijli made itself, else None: a payment on
    a link Bijli made but has no row for (a crash between Razorpay's answer and the commit)
    is still the consumer's; one on any other Razorpay product is not."""
    found = _BIJLI_REFERENCE.match(reference) if isinstance(reference, str) else None
    return found["consumer_no"] if found else None
