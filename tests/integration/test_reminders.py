"""Use case: every consumer whose bill is due soon, or overdue, is reminded once — by the
channel they use, else by SMS — never at night, and never after they paid."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app as cli
from discom.clock import IST, today_ist, utcnow
from discom.db import Database
from discom.demo import seed
from discom.models import Chat, ChatAccount, Consumer, LedgerEntry, OutboundMessage
from discom.notify.outbox import notify_consumer
from discom.notify.routing import Routing, configure_routing
from discom.notify.sender import Note, OutboxSender, Sent
from discom.reminders import DailyReminders, QuietHours, ReminderPolicy, enqueue_reminders

ROUTING = Routing(channels=None, sms_fallback=True, default_language="hi")
POLICY = ReminderPolicy(due_within_days=3, notice_days=15)
BILL_DUE = {"1000000002", "1000000013"}  # due in 3 days; a shop due today
OVERDUE = {"1000000003", "1000000006", "1000000018"}  # overdue and still connected


class Inbox:
    """A messenger for one channel that keeps what it was given."""

    def __init__(self) -> None:
        self.notes: list[Note] = []

    async def deliver(self, note: Note) -> Sent:
        self.notes.append(note)
        return Sent(f"ref-{note.message_id}")


@pytest.fixture
async def seeded(db: Database) -> Database:
    configure_routing(db, ROUTING)
    await seed(db)
    return db


async def reminders(db: Database) -> list[tuple[str, str, str]]:
    """(consumer no, kind, channel) of every reminder queued."""
    async with db.uow() as uow:
        rows = await uow.session.execute(
            select(Consumer.consumer_no, OutboundMessage.kind, OutboundMessage.channel)
            .join(Consumer, Consumer.id == OutboundMessage.consumer_id)
            .where(OutboundMessage.priority == 2).order_by(OutboundMessage.id))
        return [tuple(row) for row in rows]


async def test_one_reminder_per_consumer_bill_and_kind_however_often_it_runs(seeded: Database):
    first = await enqueue_reminders(seeded, utcnow(), POLICY, ROUTING, batch_size=7)
    again = await enqueue_reminders(seeded, utcnow(), POLICY, ROUTING, batch_size=7)

    queued = await reminders(seeded)
    assert {no for no, kind, _ in queued if kind == "bill_due"} == BILL_DUE
    assert {no for no, kind, _ in queued if kind == "overdue_notice"} == OVERDUE
    assert {channel for _, _, channel in queued} == {"sms"}  # nobody chats: their mobiles
    assert (first.consumers, first.owed, first.queued) == (20, 5, 5)
    assert (again.owed, again.queued) == (5, 0)
    assert first.by_kind == {"bill_due": 2, "overdue_notice": 3}


async def test_a_run_that_crashed_half_way_is_completed_by_the_next(seeded: Database):
    batches = 0

    def crash_after_two(_: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        await enqueue_reminders(seeded, utcnow(), POLICY, ROUTING, batch_size=5,
                                on_progress=crash_after_two, concurrency=1)
    partial = len(await reminders(seeded))
    rest = await enqueue_reminders(seeded, utcnow(), POLICY, ROUTING, batch_size=5)
    assert 0 < partial < 5 and rest.queued == 5 - partial
    assert len(await reminders(seeded)) == 5


async def test_the_chat_the_consumer_uses_is_preferred_to_sms(seeded: Database):
    now = utcnow()
    async with seeded.uow() as uow:
        consumer_id = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == "1000000002"))
        old = Chat(channel="telegram", external_id="111", language="en", language_chosen=True,
                   created_at=now, last_inbound_at=now - timedelta(days=20))
        recent = Chat(channel="whatsapp", external_id="+919812345670", language="hi",
                      language_chosen=True, created_at=now, last_inbound_at=now)
        uow.session.add_all([old, recent])
        await uow.session.flush()
        uow.session.add_all([ChatAccount(chat_id=old.id, consumer_id=consumer_id,
                                         linked_at=now),
                             ChatAccount(chat_id=recent.id, consumer_id=consumer_id,
                                         linked_at=now)])
        await uow.commit()
    await enqueue_reminders(seeded, now, POLICY, ROUTING)
    assert ("1000000002", "bill_due", "whatsapp") in await reminders(seeded)


async def test_a_reminder_paid_meanwhile_is_cancelled_and_the_amount_is_todays(
        seeded: Database):
    await enqueue_reminders(seeded, utcnow(), POLICY, ROUTING)
    async with seeded.uow() as uow:
        paid = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == "1000000002"))
        uow.session.add(LedgerEntry(consumer_id=paid, kind="payment", amount_paise=-345_678,
                                    detail="cash", idempotency_key="test/paid",
                                    posted_at=utcnow()))
        await uow.commit()
    inbox = Inbox()
    await OutboxSender(seeded, {"sms": inbox}).run_due()

    by_consumer = {note.params["consumer_no"]: note for note in inbox.notes}
    assert set(by_consumer) == (BILL_DUE | OVERDUE) - {"1000000002"}
    shop = by_consumer["1000000013"]
    assert shop.params["amount_paise"] == 274_550 and shop.language == "hi"
    notice = by_consumer["1000000003"]
    assert notice.params["disconnect_on"] == (today_ist() + timedelta(days=16)).isoformat()
    async with seeded.uow() as uow:
        statuses = dict((await uow.session.execute(
            select(Consumer.consumer_no, OutboundMessage.status)
            .join(Consumer, Consumer.id == OutboundMessage.consumer_id))).all())
    assert statuses["1000000002"] == "cancelled"


def ist(hour: int, minute: int = 0) -> datetime:
    day = today_ist()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST).astimezone(UTC)


async def test_quiet_hours_hold_reminders_but_never_supply_restored(seeded: Database):
    quiet = QuietHours.parse("21:00-09:00")
    night = ist(22, 30)
    await enqueue_reminders(seeded, night, ReminderPolicy(quiet=quiet), ROUTING)
    async with seeded.uow() as uow:
        held = (await uow.session.scalars(select(OutboundMessage.next_attempt_at))).all()
        restored_for = await uow.session.scalar(
            select(Consumer.id).where(Consumer.consumer_no == "1000000004"))
        await notify_consumer(uow.session, restored_for, "supply_restored",
                              {"meter_id": "SM1000000004", "at": night.isoformat()},
                              dedupe_key="test/restored", now=night)
        await uow.commit()
    assert all(at == quiet.end_after(night) for at in held)  # 09:00 tomorrow

    inbox = Inbox()
    sender = OutboxSender(seeded, {"sms": inbox}, clock=lambda: night + timedelta(days=1),
                          hold_reminders=quiet.contains)
    await sender.run_due()
    assert [note.kind for note in inbox.notes] == ["supply_restored"]

    morning = OutboxSender(seeded, {"sms": inbox}, clock=lambda: ist(9, 30) + timedelta(
        days=1), hold_reminders=quiet.contains)
    await morning.run_due()
    # The shop's bill was due "today" when queued; by the morning it is past, so that one
    # is cancelled rather than sent late. The rest go.
    assert [note.kind for note in inbox.notes[1:]].count("overdue_notice") == 3
    assert len(inbox.notes) == 1 + 4


async def test_the_daily_run_happens_once_a_day_whatever_the_number_of_workers(
        seeded: Database, database_url: str):
    other_process = Database(database_url)
    try:
        clock = [ist(10, 30)]
        workers = [DailyReminders(db, POLICY, ROUTING, owner, daily_at="10:00",
                                  clock=lambda: clock[0])
                   for db, owner in ((seeded, "w1"), (other_process, "w2"))]
        assert [await w.run_due() for w in workers] == [5, 0]
        assert [await w.run_due() for w in workers] == [0, 0]
        clock[0] = ist(9, 59) + timedelta(days=1)
        assert [await w.run_due() for w in workers] == [0, 0]  # not yet time
        clock[0] = ist(10, 1) + timedelta(days=1)
        await workers[1].run_due()
        # The next day's run: only the shop's bill, overdue since yesterday, is new.
        assert workers[1].last_report.queued == 1
        assert len(await reminders(seeded)) == 6
    finally:
        await other_process.dispose()


def test_bijli_remind_queues_with_a_progress_bar_and_can_run_again(
        db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("TWILIO_SMS_FROM", "BIJLII")

    async def prepare() -> None:
        database = Database(database_url)
        try:
            await seed(database)
        finally:
            await database.dispose()

    asyncio.run(prepare())
    first = CliRunner().invoke(cli, ["remind", "--due-within", "3d"])
    assert first.exit_code == 0, first.output
    assert "reminders" in first.output and "20/20" in first.output
    assert "by kind: bill_due 2, overdue_notice 3" in first.output
    assert "by channel: sms 5" in first.output
    again = CliRunner().invoke(cli, ["remind", "--due-within", "3d"])
    assert again.exit_code == 0 and "by kind" not in again.output
    wider = CliRunner().invoke(cli, ["remind", "--due-within", "7d", "--no-overdue"])
    assert "by kind: bill_due 3" in wider.output  # bills due in 5, 6 and 7 days
    assert CliRunner().invoke(cli, ["remind", "--due-within", "soon"]).exit_code != 0
