"""Delivering the outbox: claim due messages, hand them to the channel's messenger, record it.

A chat's messages go out one at a time in the order they were written ("payment received"
before "reconnection started" before "supply restored"); different chats go out side by
side. A message that needs a payment link (a part payment, a disconnection) gets one for the
account's total *at sending time*, so a link is never for a stale amount; a reminder is
checked again at sending time too (discom/reminders.py), and cancelled when the bill was paid
meanwhile. Each channel's queue is served by priority: replies to a chatting consumer, then
event notifications, then reminders (which wait out the quiet hours).

Every channel a message goes out on is recorded in `message_deliveries` before the provider
is called, and never used twice for the same message. A permanent refusal (`Undeliverable`)
moves the message to the next channel of the consumer's fallback chain
(discom/notify/routing.py); a provider's 429 (`RateLimited`) pauses the channel and puts the
message back without counting a try; anything else is retried with backoff.

A sender for one channel of a provider with limits (`channel_sender`) also paces itself
(`Pacer`) and sends only while its process holds the channel's lease (`ChannelLease`): see
discom/notify/pacing.py for why that keeps any number of worker processes under the limit.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import or_, select, update

from discom.accounts import load_dues
from discom.availability import ThrottledLog
from discom.clock import utcnow
from discom.db import Database
from discom.models import Chat, Consumer, OutboundMessage, PaymentLink
from discom.payments.gateway import MIN_LINK_AMOUNT
from discom.payments.link_requests import LinkClaim, make_link, request_link
from discom.payments.links import Gateway, LinkSettings
from discom.reconnection.results import Backoff

log = structlog.get_logger(__name__)

NEEDS_LINK = ("payment_partial", "disconnected")
PRIORITY_REMINDER = 2


@dataclass(frozen=True)
class Note:
    """One message as a messenger receives it: where to, in which language, what.
    `last_inbound_at`: when the chat last wrote to Bijli (WhatsApp's 24-hour window)."""

    message_id: int
    channel: str
    chat_ref: str
    language: str
    kind: str
    params: dict[str, Any]
    last_inbound_at: datetime | None = None
    chat_id: int | None = None


@dataclass(frozen=True)
class Sent:
    """What a provider said when it took a message: its id (for status callbacks), its first
    status, and the approved template (WhatsApp Content SID, SMS DLT id) it went out as."""

    provider_ref: str | None = None
    status: str = "sent"
    template_ref: str | None = None


class Undeliverable(Exception):
    """The channel will never take this message (user blocked the bot, number invalid)."""


class Messenger(Protocol):
    """Implemented by bot/: render a note in its language and send it on one channel.
    Raises `Undeliverable` for a permanent refusal, `discom.notify.pacing.RateLimited` for a
    provider's 429; any other exception is retried. May return a `Sent`; a messenger may also
    have `cost(note) -> float`, the provider calls the note takes (SMS: its segments)."""

    async def deliver(self, note: Note) -> Sent | None: ...


@dataclass(frozen=True)
class SenderConfig:
    lease: timedelta = timedelta(seconds=60)
    batch: int = 200
    max_tries: int = 8
    backoff: Backoff = field(default_factory=Backoff)


class OutboxSender:
    def __init__(self, db: Database, messengers: dict[str, Messenger], *,
                 gateway: Gateway | None = None, link_settings: LinkSettings | None = None,
                 config: SenderConfig | None = None, clock: Any = utcnow,
                 only_chat_ids: set[int] | None = None, pacer: Any = None,
                 channel_lease: Any = None,
                 hold_reminders: Callable[[datetime], bool] | None = None) -> None:
        self._db, self._messengers = db, messengers
        self._config = config or SenderConfig()
        self._gateway, self._link_settings = gateway, link_settings
        self._clock, self._only = clock, only_chat_ids
        self._pacer, self._channel_lease = pacer, channel_lease
        self._hold_reminders = hold_reminders
        self._rng = random.Random()  # noqa: S311 - jitter, not secrecy
        self.sent = 0  # messages a provider took (a counter for benches and logs)

    async def run_due(self) -> int:
        """Deliver what is due now. Returns the number of messages handled."""
        if not await self._may_send():
            return 0
        notes = await self._claim()
        await self._deliver_by_chat(_by_chat(notes))
        return len(notes)

    async def run(self, stop: asyncio.Event, wait: Callable[[float], Awaitable[Any]],
                  idle: float = 1.0) -> None:
        """Keep delivering until `stop`; when nothing is due, `wait(idle)` (a wake-up).

        A paced sender claims its next batch while the current one is still going through
        the pacer (when about a fifth of it is left), so the pacer never idles between
        batches; a chat with a message still in flight keeps its later ones for a later
        batch, so a chat's messages still go out in order."""
        in_flight: set[asyncio.Task[None]] = set()
        busy: set[str] = set()
        failures = ThrottledLog(logger=log)
        try:
            while not stop.is_set():
                try:
                    notes = await self._claim_next(busy)
                    failures.recovered("outbox.pass_failed")
                except Exception as error:  # the database down: one line now and then
                    failures.failure("outbox.pass_failed", error)
                    notes = []
                if notes:
                    task = asyncio.create_task(self._deliver_batch(notes, busy))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    ahead = (len(notes) * self._pacer.interval * 0.8
                             if self._pacer is not None else None)
                    await asyncio.wait({task}, timeout=ahead)
                elif in_flight:
                    await asyncio.wait(set(in_flight), timeout=idle)
                elif not stop.is_set():
                    await wait(idle)
            if in_flight:
                # Sends already under way finish; those still waiting for a turn go back
                # to the queue (released) for whoever sends next.
                if self._pacer is not None:
                    self._pacer.close()
                await asyncio.gather(*in_flight, return_exceptions=True)
        finally:
            try:
                await self.release()
            except Exception:
                log.warning("could not release the channel lease",
                            lease=self._channel_lease.name if self._channel_lease else None)

    async def release(self) -> None:
        """Give up the channel's lease (a stopping worker), so another takes over at once."""
        if self._channel_lease is not None:
            await self._channel_lease.release()

    async def _claim_next(self, busy: set[str]) -> list[Note]:
        if not await self._may_send():
            return []
        notes = await self._claim()
        held_back = [n.message_id for n in notes if _chat_key(n) in busy]
        if held_back:
            await self._release(held_back)
        return [n for n in notes if _chat_key(n) not in busy]

    async def _deliver_batch(self, notes: list[Note], busy: set[str]) -> None:
        by_chat = _by_chat(notes)
        busy.update(by_chat)
        try:
            await self._deliver_by_chat(by_chat)
        except Exception:
            log.exception("outbox batch failed")
        finally:
            busy.difference_update(by_chat)

    async def _deliver_by_chat(self, by_chat: dict[str, list[Note]]) -> None:
        """Chats side by side, each chat's messages in order."""
        await asyncio.gather(*(self._deliver_in_order(chat) for chat in by_chat.values()))

    async def _may_send(self) -> bool:
        """Without a channel lease, always; with one, while this process holds it."""
        lease = self._channel_lease
        if lease is None:
            return True
        if lease.due_for_renewal():
            await lease.acquire()
        if not lease.held:
            return False
        if self._pacer is not None and lease.paused_until is not None:
            remaining = (lease.paused_until - self._clock()).total_seconds()
            if remaining > 0:
                self._pacer.pause(remaining)
        return True

    def _batch_size(self) -> int:
        batch = self._config.batch
        if self._pacer is not None and self._channel_lease is not None:
            # A batch is sent well within a third of the channel lease, so the lease is
            # renewed between batches.
            lease = self._channel_lease._duration.total_seconds()
            batch = min(batch, max(1, int(self._pacer.rate * lease / 3)))
        return batch

    async def _claim(self) -> list[Note]:
        if not self._messengers:
            return []
        now = self._clock()
        async with self._db.uow() as uow:
            query = (
                select(OutboundMessage, Chat)
                .join(Chat, Chat.id == OutboundMessage.chat_id)
                .where(OutboundMessage.status == "pending",
                       OutboundMessage.channel.in_(list(self._messengers)),
                       OutboundMessage.next_attempt_at <= now,
                       or_(OutboundMessage.lease_until.is_(None),
                           OutboundMessage.lease_until < now))
                .order_by(OutboundMessage.priority, OutboundMessage.id)
                .limit(self._batch_size())
                .with_for_update(of=OutboundMessage, skip_locked=True)
            )
            if self._only is not None:
                query = query.where(OutboundMessage.chat_id.in_(self._only))
            if self._hold_reminders is not None and self._hold_reminders(now):
                query = query.where(OutboundMessage.priority < PRIORITY_REMINDER)
            rows = (await uow.session.execute(query)).all()
            if rows:
                await uow.session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id.in_([m.id for m, _ in rows]))
                    .values(lease_until=now + self._config.lease))
            await uow.commit()
        return [Note(m.id, m.channel, c.external_id, c.language, m.kind, dict(m.params),
                     c.last_inbound_at, c.id)
                for m, c in rows]

    async def _deliver_in_order(self, notes: list[Note]) -> None:
        for note in notes:
            if not await self._deliver(note):
                break  # keep the chat's order: the rest wait for this one's retry

    async def _deliver(self, note: Note) -> bool:
        from discom.notify import deliveries
        from discom.notify.pacing import PacerClosed, RateLimited

        try:
            prepared = await self._prepare(note)
            if prepared is None:
                return True  # cancelled: no longer owed
            note = prepared
            if not await self._begin(note):
                await self._fall_back(note, f"already went out on {note.channel}",
                                      record=False)
                return True
            messenger = self._messengers[note.channel]
            if self._pacer is not None:
                cost = messenger.cost(note) if hasattr(messenger, "cost") else 1.0
                try:
                    await self._pacer.acquire(note.chat_ref, cost)
                except PacerClosed:
                    await self._release([note.message_id])  # stopping: the next worker's
                    return False
                if self._channel_lease is not None and not self._channel_lease.held:
                    await self._release([note.message_id])  # another worker has the channel
                    return False
            sent = await messenger.deliver(note)
        except Undeliverable as exc:
            await self._fall_back(note, str(exc) or type(exc).__name__, record=True)
            return True
        except RateLimited as exc:
            await self._rate_limited(note, exc)
            return False
        except Exception as exc:
            log.warning("message delivery failed; will retry", message_id=note.message_id,
                        channel=note.channel, error=repr(exc)[:200])
            await self._retry(note, repr(exc))
            return False
        await self._finish(note, "sent", None, sent or Sent(), deliveries)
        self.sent += 1
        return True

    async def _prepare(self, note: Note) -> Note | None:
        """Reminders checked again and links made at sending time; None: cancel it."""
        from discom.reminders import REMINDER_KINDS, refresh_reminder

        if note.kind in REMINDER_KINDS:
            async with self._db.uow() as uow:
                message = await uow.session.get(OutboundMessage, note.message_id)
                assert message is not None
                params = await refresh_reminder(uow.session, message, self._clock())
                if params is None:
                    message.status, message.lease_until = "cancelled", None
                    message.last_error = "no longer owed at sending time"
                    await uow.commit()
                    return None
            return Note(note.message_id, note.channel, note.chat_ref, note.language,
                        note.kind, params, note.last_inbound_at, note.chat_id)
        return await self._with_link(note)

    async def _begin(self, note: Note) -> bool:
        from discom.notify import deliveries

        if note.chat_id is None:
            return True
        async with self._db.uow() as uow:
            fresh = await deliveries.begin(uow.session, note.message_id, note.channel,
                                           note.chat_id, self._clock())
            await uow.commit()
        return fresh

    async def _with_link(self, note: Note) -> Note:
        if note.kind not in NEEDS_LINK or self._gateway is None or self._link_settings is None:
            return note
        async with self._db.uow() as uow:
            message = await uow.session.get(OutboundMessage, note.message_id)
            assert message is not None and message.consumer_id is not None
            consumer = await uow.session.get(Consumer, message.consumer_id)
            assert consumer is not None
            dues = await load_dues(uow.session, consumer.id)
            if dues.total < MIN_LINK_AMOUNT:  # nothing due, or less than Razorpay accepts
                return note
            # Such notices go to the holder only (notify/audience.py): the link may name them.
            found = await request_link(uow.session, consumer, dues.total, message.chat_id,
                                       self._clock(), self._link_settings, for_holder=True)
            await uow.commit()
        if isinstance(found, LinkClaim):  # Razorpay is called with no transaction open
            link = await make_link(self._db, self._gateway, self._link_settings, found,
                                   self._clock())
        elif isinstance(found, PaymentLink):
            link = found
        else:  # the chat's own request is with Razorpay right now: its reply has the link
            return note
        params = {**note.params, "total_paise": dues.total, "link_url": link.short_url}
        return Note(note.message_id, note.channel, note.chat_ref, note.language, note.kind,
                    params, note.last_inbound_at, note.chat_id)

    async def _finish(self, note: Note, status: str, error: str | None, sent: Sent,
                      deliveries: Any) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            if note.chat_id is not None:
                await deliveries.accepted(uow.session, note.message_id, note.channel, now,
                                          provider_ref=sent.provider_ref, status=sent.status,
                                          template_ref=sent.template_ref)
            await uow.session.execute(
                update(OutboundMessage).where(OutboundMessage.id == note.message_id)
                .values(status=status, sent_at=now if status == "sent" else None,
                        last_error=error[:300] if error else None, lease_until=None,
                        tries=OutboundMessage.tries + 1))
            await uow.commit()

    async def _fall_back(self, note: Note, reason: str, *, record: bool) -> None:
        """The channel refused the message for good: on to the consumer's next channel."""
        from discom.notify import deliveries
        from discom.notify.routing import fall_back

        now = self._clock()
        async with self._db.uow() as uow:
            if record and note.chat_id is not None:
                await deliveries.refused(uow.session, note.message_id, note.channel, reason,
                                         now)
            message = await uow.session.get(OutboundMessage, note.message_id,
                                            with_for_update=True)
            assert message is not None
            message.tries += 1
            target = await fall_back(uow.session, message, reason, now)
            await uow.commit()
        log.info("message moved to the next channel" if target else "message undeliverable",
                 message_id=note.message_id, channel=note.channel,
                 to=target.channel if target else None, reason=reason[:120])

    async def _rate_limited(self, note: Note, error: Any) -> None:
        """A provider's 429: pause the channel, put the message back untouched."""
        wait = max(error.retry_after, 0.5)
        log.warning("provider rate limit; channel paused", channel=note.channel,
                    retry_after=wait)
        if self._pacer is not None:
            self._pacer.pause(wait)
        if self._channel_lease is not None:
            await self._channel_lease.pause(wait)
        now = self._clock()
        async with self._db.uow() as uow:
            await uow.session.execute(
                update(OutboundMessage).where(OutboundMessage.id == note.message_id)
                .values(lease_until=None, next_attempt_at=now + timedelta(seconds=wait),
                        last_error=str(error)[:300]))
            await uow.commit()

    async def _release(self, message_ids: list[int]) -> None:
        """Give claimed messages back to the queue at once (their turn has not come)."""
        if not message_ids:
            return
        async with self._db.uow() as uow:
            await uow.session.execute(
                update(OutboundMessage).where(OutboundMessage.id.in_(message_ids),
                                              OutboundMessage.status == "pending")
                .values(lease_until=None))
            await uow.commit()

    async def _retry(self, note: Note, error: str) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            message = await uow.session.get(OutboundMessage, note.message_id,
                                            with_for_update=True)
            assert message is not None
            message.tries += 1
            message.last_error, message.lease_until = error[:300], None
            if message.tries >= self._config.max_tries:
                message.status = "failed"
            else:
                message.next_attempt_at = now + self._config.backoff.after(message.tries,
                                                                          self._rng)
            await uow.commit()


def _chat_key(note: Note) -> str:
    return f"{note.channel}:{note.chat_ref}"


def _by_chat(notes: list[Note]) -> dict[str, list[Note]]:
    """The notes grouped by chat, each group in claim order."""
    grouped: dict[str, list[Note]] = defaultdict(list)
    for note in notes:
        grouped[_chat_key(note)].append(note)
    return grouped
