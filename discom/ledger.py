"""Dues, derived from the append-only ledger. Pure: no I/O, no framework.

Money in (payments, credit adjustments) settles the oldest debt first — earlier bills, then
charges, then the latest bill — which is how a consumer reads "arrears": what is still unpaid
from before the current bill.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from discom.money import Paise

# The detail of an adjustment that takes back money a refunded payment brought in: it
# re-opens the debts that money had settled rather than adding a new charge.
REFUND_DETAIL = "refund"


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # bill | charge | payment | adjustment
    amount_paise: Paise  # positive: owed by the consumer; negative: money in
    posted_at: datetime
    bill_month: str | None = None
    due_date: date | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Dues:
    current_bill: Paise  # what is still unpaid of the latest bill
    current_billed: Paise  # the latest bill as billed (after revisions)
    arrears: Paise
    charges: Paise
    advance: Paise  # money in beyond everything owed
    bill_month: str | None
    due_date: date | None

    @property
    def total(self) -> Paise:
        return self.current_bill + self.arrears + self.charges

    @property
    def is_clear(self) -> bool:
        return self.total == 0

    def is_overdue(self, today: date) -> bool:
        return self.total > 0 and self.due_date is not None and today > self.due_date


@dataclass(slots=True)
class _Debt:
    key: tuple[int, str, datetime]  # settlement order
    kind: str  # "bill" or "charge"
    amount: Paise


def compute_dues(entries: Iterable[Entry]) -> Dues:
    bills: dict[str, _Debt] = {}
    due_dates: dict[str, date] = {}
    charges: list[_Debt] = []
    money_in: Paise = 0
    for entry in entries:
        if entry.kind == "bill" or (entry.kind == "adjustment" and entry.bill_month):
            month = entry.bill_month or ""
            debt = bills.setdefault(month, _Debt((0, month, entry.posted_at), "bill", 0))
            debt.amount += entry.amount_paise
            if entry.due_date:
                due_dates[month] = entry.due_date
        elif entry.amount_paise > 0 and entry.detail != REFUND_DETAIL:
            charges.append(_Debt((1, "", entry.posted_at), "charge", entry.amount_paise))
        else:
            money_in -= entry.amount_paise
    latest_month = max(bills) if bills else None
    # A bill revised below zero is a credit like any other money in.
    for debt in bills.values():
        if debt.amount < 0:
            money_in -= debt.amount
            debt.amount = 0
    current = bills.pop(latest_month) if latest_month else None
    billed = current.amount if current else 0
    order = sorted(bills.values(), key=lambda d: d.key) + sorted(charges, key=lambda d: d.key)
    if current:
        order.append(current)
    for debt in order:
        settled = min(debt.amount, money_in)
        debt.amount -= settled
        money_in -= settled
    return Dues(
        current_bill=current.amount if current else 0,
        current_billed=billed,
        arrears=sum(d.amount for d in bills.values()),
        charges=sum(d.amount for d in charges),
        advance=money_in,
        bill_month=latest_month,
        due_date=due_dates.get(latest_month) if latest_month else None,
    )
