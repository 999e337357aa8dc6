"""Demo data: about twenty consumers that together show every case Bijli handles.

Dates are relative to today, so "due in 3 days" stays true whenever the demo is seeded.
Consumer numbers are easy to type: 1000000001, 1000000002, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from discom.clock import today_ist, utcnow
from discom.db import Database
from discom.models import Consumer, LedgerEntry, Meter


@dataclass(frozen=True)
class DemoConsumer:
    case: str
    name: str
    mobile: str | None
    tariff: str = "LV1"
    division: str = "Indore City East"
    # (months before the current one, amount in paise, days until due (negative: overdue))
    bills: tuple[tuple[int, int, int], ...] = ((0, 84_500, 12),)
    paid: int = 0  # paise paid against the bills above
    charges: tuple[tuple[str, int], ...] = ()
    relay: str = "connected"
    relay_reason: str | None = None
    remote_switch: bool = True
    meters: int = 1
    extra: dict[str, str] = field(default_factory=dict)


CUT = (("disconnection", 15_000), ("reconnection", 15_000))

DEMO_CONSUMERS: tuple[DemoConsumer, ...] = (
    DemoConsumer("paid up", "Ramesh Kumar", "+919876543210", paid=84_500),
    DemoConsumer("bill due in 3 days", "Sunita Sharma", "+919812345670",
                 bills=((0, 3_456_78, 3),)),
    DemoConsumer("overdue by 10 days", "Abdul Rahman", "+919898989898",
                 bills=((0, 2_310_00, -10),)),
    DemoConsumer("disconnected for non-payment, with charges", "Meena Patel", "+919826012345",
                 bills=((1, 1_450_00, -35), (0, 1_120_00, -5)), charges=CUT,
                 relay="disconnected", relay_reason="non_payment"),
    DemoConsumer("no registered mobile", "Gopal Yadav", None, bills=((0, 640_00, 9),)),
    DemoConsumer("CT-operated meter, cannot be switched remotely", "Malwa Textiles Pvt Ltd",
                 "+919425001122", tariff="HV3", division="Pithampur Industrial",
                 bills=((0, 4_87_650_00, -3),), remote_switch=False),
    DemoConsumer("arrears from two months", "Lakshmi Bai", "+919300112233",
                 bills=((2, 980_00, -50), (1, 1_040_00, -20), (0, 1_110_00, 10))),
    DemoConsumer("advance credit after overpaying", "Vikram Singh", "+919111222333",
                 bills=((0, 700_00, 10),), paid=1_000_00),
    DemoConsumer("meter armed, press the button to reconnect", "Farah Khan", "+919755443322",
                 bills=((0, 560_00, 15),), paid=560_00, relay="ready_for_reconnection"),
    DemoConsumer("part-paid bill", "Anil Verma", "+919009876543",
                 bills=((0, 1_500_00, 6),), paid=500_00),
    DemoConsumer("disconnected, two months unpaid", "Rekha Joshi", "+919977665544",
                 bills=((1, 870_00, -40), (0, 910_00, -8)), charges=CUT,
                 relay="disconnected", relay_reason="non_payment", division="Dewas"),
    DemoConsumer("agricultural pump, due in 20 days", "Harish Patidar", "+919424556677",
                 tariff="LV5", division="Ujjain Rural", bills=((0, 3_200_00, 20),)),
    DemoConsumer("shop, non-domestic, due today", "Sharma General Store", "+919826776655",
                 tariff="LV2", bills=((0, 2_745_50, 0),)),
    DemoConsumer("disconnected manually (not for dues)", "Pooja Malviya", "+919893001100",
                 bills=((0, 450_00, 10),), paid=450_00, relay="disconnected",
                 relay_reason="manual"),
    DemoConsumer("meter state unknown (not heard from)", "Suresh Chouhan", "+919406223344",
                 bills=((0, 390_00, 12),), relay="unknown"),
    DemoConsumer("two meters on one account", "Kaveri Apartments RWA", "+919179334455",
                 tariff="LV2", bills=((0, 18_900_00, 7),), meters=2),
    DemoConsumer("paid up, no smart meter yet", "Dinesh Rathore", "+919752998877",
                 bills=((0, 520_00, 14),), paid=520_00, meters=0),
    DemoConsumer("overdue with arrears, still connected", "Asha Kushwah", "+919589112200",
                 bills=((1, 760_00, -25), (0, 815_00, -2))),
    DemoConsumer("large domestic bill due in 5 days", "Rajendra Jain", "+919300998811",
                 bills=((0, 12_345_67, 5),)),
    DemoConsumer("disconnected for non-payment, no mobile", "Bhagwati Devi", None,
                 bills=((0, 1_980_00, -30),), charges=CUT, relay="disconnected",
                 relay_reason="non_payment"),
)


def demo_consumer_no(index: int) -> str:
    return f"{1_000_000_001 + index}"


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _bill_months(bills: tuple[tuple[int, int, int], ...], today: date) -> dict[int, str]:
    """The month each bill is for, by months_before. A month is billed after it ends and due
    some weeks later, so a bill is for the month before the one it is due in (not
    "December's bill due in November"), and each older bill for an earlier month than the
    next one, however the due dates fall in the calendar."""
    months: dict[int, str] = {}
    later = None
    for months_before, _, due_in in sorted(bills):
        due = today + timedelta(days=due_in)
        index = due.year * 12 + due.month - 2
        if later is not None:
            index = min(index, later - 1)
        months[months_before], later = _month_name(index), index
    return months


def _entries(consumer_id: int, no: str, demo: DemoConsumer, today: date,
             now: datetime) -> list[LedgerEntry]:
    months = _bill_months(demo.bills, today)
    entries = []
    for months_before, amount, due_in in demo.bills:
        month = months[months_before]
        posted = now - timedelta(days=30 * months_before + 15)
        entries.append(LedgerEntry(
            consumer_id=consumer_id, kind="bill", amount_paise=amount, bill_month=month,
            due_date=today + timedelta(days=due_in), idempotency_key=f"bill/{no}/{month}",
            posted_at=posted))
    for n, (detail, amount) in enumerate(demo.charges):
        entries.append(LedgerEntry(
            consumer_id=consumer_id, kind="charge", amount_paise=amount, detail=detail,
            idempotency_key=f"demo-charge/{no}/{n}", posted_at=now - timedelta(days=2)))
    if demo.paid:
        entries.append(LedgerEntry(
            consumer_id=consumer_id, kind="payment", amount_paise=-demo.paid, detail="demo",
            idempotency_key=f"demo-payment/{no}", posted_at=now - timedelta(days=1)))
    return entries


def _meters(consumer_id: int, no: str, demo: DemoConsumer, now: datetime) -> list[Meter]:
    changed = now - timedelta(days=2) if demo.relay != "connected" else now - timedelta(days=90)
    return [
        Meter(meter_id=f"SM{no}{'' if n == 0 else f'-{n + 1}'}", consumer_id=consumer_id,
              remote_switch=demo.remote_switch, relay_state=demo.relay,
              relay_reason=demo.relay_reason, relay_changed_at=changed,
              last_seen_at=None if demo.relay == "unknown" else now - timedelta(minutes=15))
        for n in range(demo.meters)
    ]


async def is_empty(db: Database) -> bool:
    async with db.uow() as uow:
        return not await uow.session.scalar(select(func.count()).select_from(Consumer))


async def seed(db: Database, now: datetime | None = None) -> int:
    """Insert the demo consumers (skipping any whose number exists). Returns how many."""
    now = now or utcnow()
    today = today_ist(now)
    added = 0
    async with db.uow() as uow:
        for index, demo in enumerate(DEMO_CONSUMERS):
            no = demo_consumer_no(index)
            if await uow.session.scalar(select(Consumer.id).where(Consumer.consumer_no == no)):
                continue
            consumer = Consumer(consumer_no=no, name=demo.name, mobile=demo.mobile,
                                tariff_category=demo.tariff, division=demo.division)
            uow.session.add(consumer)
            await uow.session.flush()
            uow.session.add_all(_entries(consumer.id, no, demo, today, now))
            uow.session.add_all(_meters(consumer.id, no, demo, now))
            added += 1
        await uow.commit()
    return added
