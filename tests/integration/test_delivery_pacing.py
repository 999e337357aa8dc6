"""Use case: notifications go out as fast as a provider allows and never faster, however many
worker processes run; a provider's 429 pauses the channel; a Telegram user who blocked the
bot is reached by SMS instead.

Two "processes" here are two senders with their own database engine and their own owner
name, as two `bijli worker` processes would have.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from discom.clock import utcnow
from discom.db import Database
from discom.models import Chat, ChatAccount, OutboundMessage, WorkerLease
from discom.notify.pacing import ChannelLease, Pacer
from discom.notify.sender import Note, OutboxSender, SenderConfig, Sent
from discom.settings import Settings
from tests.fakes.bijli_app import BijliApp, demo_no
from tests.fakes.razorpay_server import RazorpayServer
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.twilio_steps import Phone, deliveries, outbox, twilio_settings

DISCONNECTED = "disconnected for non-payment, with charges"
MEENA_MOBILE = "+919826012345"
TELEGRAM_CHAT = 555_000_222


class Recorder:
    """A messenger that records when, by whom and to whom each message went."""

    def __init__(self, owner: str, log: list[tuple[float, str, str]]) -> None:
        self.owner, self.log = owner, log

    async def deliver(self, note: Note) -> Sent:
        self.log.append((time.monotonic(), self.owner, note.chat_ref))
        return Sent(f"ref-{note.message_id}")


async def queue_messages(db: Database, count: int, channel: str = "whatsapp") -> None:
    now = utcnow()
    async with db.uow() as uow:
        for n in range(count):
            chat = Chat(channel=channel, external_id=f"+9190000{n:05d}", language="en",
                        language_chosen=True, created_at=now, last_inbound_at=now)
            uow.session.add(chat)
            await uow.session.flush()
            uow.session.add(OutboundMessage(
                consumer_id=None, chat_id=chat.id, channel=channel, kind="reply",
                params={"text": f"message {n}"}, dedupe_key=f"test/{n}", status="pending",
                tries=0, priority=0, next_attempt_at=now, created_at=now))
        await uow.commit()


def busiest_second(times: list[float]) -> int:
    """The most sends that started within any one-second window."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
async def two_processes(database_url: str) -> AsyncIterator[list[Database]]:
    databases = [Database(database_url), Database(database_url)]
    try:
        yield databases
    finally:
        for database in databases:
            await database.dispose()


def sender(db: Database, owner: str, log: list, rate: float, lease: float = 3.0
           ) -> OutboxSender:
    return OutboxSender(db, {"whatsapp": Recorder(owner, log)}, pacer=Pacer(rate),
                        channel_lease=ChannelLease(db, "send:whatsapp", owner,
                                                   timedelta(seconds=lease)),
                        config=SenderConfig(lease=timedelta(seconds=2)))


def senders_sharing_a_log(processes: list[Database], rate: float
                          ) -> tuple[list[OutboxSender], list[tuple[float, str, str]]]:
    """One sender per worker process, `worker-0`, `worker-1`…, all recording into one log
    of (time, owner, chat)."""
    log: list[tuple[float, str, str]] = []
    return [sender(database, f"worker-{n}", log, rate)
            for n, database in enumerate(processes)], log


async def fast_wait(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.05))


async def until(condition, limit: float = 30.0) -> None:
    """Wait for `condition()`; fail the test after `limit` seconds."""
    for _ in range(int(limit / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the senders did not finish in time")


async def run_until(senders: list[OutboxSender], done, limit: float = 30.0) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop, fast_wait)) for s in senders]
    try:
        await until(done, limit)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_two_workers_share_a_channel_one_at_a_time_and_never_exceed_its_rate(
        db: Database, two_processes: list[Database]):
    rate, count = 20, 50
    await queue_messages(db, count)
    senders, log = senders_sharing_a_log(two_processes, rate)

    await run_until(senders, lambda: len(log) >= count)

    assert sorted(chat for _, _, chat in log) == sorted(f"+9190000{n:05d}"
                                                        for n in range(count))
    assert len({owner for _, owner, _ in log}) == 1  # one process held the channel
    assert busiest_second([at for at, _, _ in log]) <= rate
    async with db.uow() as uow:
        statuses = set((await uow.session.scalars(select(OutboundMessage.status))).all())
    assert statuses == {"sent"}


async def test_a_stalled_senders_channel_is_taken_over_only_after_its_lease(
        db: Database, two_processes: list[Database]):
    """The holder loses the database (cannot renew): it stops sending on its own clock before
    its lease can run out, and only then does the other worker start."""
    count = 150
    await queue_messages(db, count)
    (first, second), log = senders_sharing_a_log(two_processes, rate=50)
    stop_first = asyncio.Event()
    task = asyncio.create_task(first.run(stop_first, fast_wait))
    await until(lambda: len(log) >= 5)

    async def unreachable() -> bool:
        raise ConnectionError("database unreachable")

    first._channel_lease.acquire = unreachable  # renewals fail from now on
    await run_until([second], lambda: len(log) >= count)
    stop_first.set()
    await task

    by_first = [at for at, owner, _ in log if owner == "worker-0"]
    by_second = [at for at, owner, _ in log if owner == "worker-1"]
    assert by_first and by_second
    assert max(by_first) < min(by_second)  # never both at once
    assert len({chat for _, _, chat in log}) == count


async def test_a_provider_429_pauses_the_channel_and_costs_no_try(
        bijli: BijliApp, fake_twilio: FakeTwilioAPI):
    phone = Phone(bijli, fake_twilio, "+919000011111")
    # Long enough that a slow drain (a loaded CI machine) cannot outlast it.
    fake_twilio.rate_limit_next("/Messages.json", retry_after=6)
    await phone.send("hi")  # the reply meets the 429; the drain gives up waiting for it
    [reply] = await outbox(bijli, "reply")
    assert reply.status == "pending" and reply.tries == 0
    assert reply.next_attempt_at > utcnow()
    async with bijli.db.uow() as uow:
        lease = await uow.session.get(WorkerLease, "send:whatsapp")
    assert lease.paused_until is not None and lease.paused_until > utcnow()

    await asyncio.sleep((lease.paused_until - utcnow()).total_seconds() + 0.1)
    await bijli.drain()
    [reply] = await outbox(bijli, "reply")
    assert reply.status == "sent" and reply.tries == 1
    assert await deliveries(bijli, reply.id) == [("whatsapp", "queued")]
    assert len(phone.received()) == 1


@pytest.fixture
def bijli_settings(db, database_url: str, razorpay_server: RazorpayServer,
                   fake_twilio: FakeTwilioAPI, fake_telegram: FakeTelegramAPI) -> Settings:
    return twilio_settings(database_url, razorpay_server, fake_twilio,
                           telegram_bot_token=fake_telegram.token,
                           telegram_api_base_url=fake_telegram.base_url,
                           telegram_webhook_secret="webhook-secret_pacing-1",
                           telegram_per_chat_seconds=0.2)


async def test_a_telegram_user_who_blocked_the_bot_is_reached_by_sms(
        bijli: BijliApp, fake_telegram: FakeTelegramAPI, fake_twilio: FakeTwilioAPI):
    consumer_no = demo_no(DISCONNECTED)
    consumer_id = await bijli.consumer_id(consumer_no)
    now = utcnow()
    async with bijli.db.uow() as uow:
        chat = Chat(channel="telegram", external_id=str(TELEGRAM_CHAT), language="en",
                    language_chosen=True, created_at=now, last_inbound_at=now)
        uow.session.add(chat)
        await uow.session.flush()
        uow.session.add(ChatAccount(chat_id=chat.id, consumer_id=consumer_id, linked_at=now))
        await uow.commit()
    for _ in range(3):
        fake_telegram.block_next(TELEGRAM_CHAT)

    response = await bijli.post_ops_payment(consumer_no, 287_000, "CASH-0100")
    assert response.status_code == 201
    await bijli.drain()

    kinds = ["payment_received", "reconnection_started", "supply_restored"]
    for kind in kinds:
        [message] = await outbox(bijli, kind)
        assert await deliveries(bijli, message.id) == [("telegram", "refused"),
                                                       ("sms", "queued")], kind
    bodies = [m.body for m in fake_twilio.messages(MEENA_MOBILE)]
    assert [body.split(".")[0] for body in bodies] == [
        "Bijli: Payment of Rs 2,870", "Bijli: Dues cleared", "Bijli: Supply restored"]
    assert len(fake_telegram.sent(TELEGRAM_CHAT)) == 3  # each tried once on Telegram, refused


async def test_a_stopping_sender_hands_back_at_once_what_it_has_not_sent(
        db: Database, two_processes: list[Database]):
    count = 30
    await queue_messages(db, count)
    (first, second), log = senders_sharing_a_log(two_processes, rate=10)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop, fast_wait))
    await until(lambda: len(log) >= 3)
    stop.set()
    await asyncio.wait_for(task, timeout=2)  # not after the rest of its batch (3 s)

    sent = len(log)
    async with db.uow() as uow:
        rows = (await uow.session.execute(
            select(OutboundMessage.status, OutboundMessage.lease_until))).all()
    assert sorted(status for status, _ in rows) == ["pending"] * (count - sent) + [
        "sent"] * sent
    assert all(lease is None for status, lease in rows if status == "pending")

    await run_until([second], lambda: len(log) >= count, limit=10)  # no lease to wait out
    assert len({chat for _, _, chat in log}) == count
