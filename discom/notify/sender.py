"""Delivering the outbox: claim due messages, hand them to the channel's messenger, record it.

A chat's messages go out one at a time in the order they were written ("payment received"
before "reconnection started" before "supply restored"); different chats go out side by
side. A message that needs a payment link (a part payment, a disconnection) gets one for the
account's total *at sending time*, so a link is never for a stale amount.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import or_, select, update

from discom.accounts import load_dues
from discom.clock import utcnow
from discom.db import Database
from discom.models import Chat, Consumer, OutboundMessage
from discom.payments.links import Gateway, LinkSettings, link_for_total
from discom.reconnection.results import Backoff

log = structlog.get_logger(__name__)

NEEDS_LINK = ("payment_partial", "disconnected")


@dataclass(frozen=True)
class Note:
    """One message as a messenger receives it: where to, in which language, what."""

    message_id: int
    channel: str
    chat_ref: str
    language: str
    kind: str
    params: dict[str, Any]


class Undeliverable(Exception):
    """The channel will never take this message (user blocked the bot, number invalid)."""


class Messenger(Protocol):
    """Implemented by bot/: render a note in its language and send it on one channel.
    Raises `Undeliverable` for a permanent refusal; any other exception is retried."""

    async def deliver(self, note: Note) -> None: ...


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
                 only_chat_ids: set[int] | None = None) -> None:
        self._db, self._messengers = db, messengers
        self._config = config or SenderConfig()
        self._gateway, self._link_settings = gateway, link_settings
        self._clock, self._only = clock, only_chat_ids
        self._rng = random.Random()  # noqa: S311 - jitter, not secrecy

    async def run_due(self) -> int:
        """Deliver what is due now. Returns the number of messages handled."""
        notes = await self._claim()
        by_chat: dict[str, list[Note]] = defaultdict(list)
        for note in notes:
            by_chat[f"{note.channel}:{note.chat_ref}"].append(note)
        await asyncio.gather(*(self._deliver_in_order(chat) for chat in by_chat.values()))
        return len(notes)

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
                .order_by(OutboundMessage.id)
                .limit(self._config.batch)
                .with_for_update(of=OutboundMessage, skip_locked=True)
            )
            if self._only is not None:
                query = query.where(OutboundMessage.chat_id.in_(self._only))
            rows = (await uow.session.execute(query)).all()
            if rows:
                await uow.session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id.in_([m.id for m, _ in rows]))
                    .values(lease_until=now + self._config.lease))
            await uow.commit()
        return [Note(m.id, m.channel, c.external_id, c.language, m.kind, dict(m.params))
                for m, c in rows]

    async def _deliver_in_order(self, notes: list[Note]) -> None:
        for note in notes:
            if not await self._deliver(note):
                break  # keep the chat's order: the rest wait for this one's retry

    async def _deliver(self, note: Note) -> bool:
        try:
            note = await self._with_link(note)
            await self._messengers[note.channel].deliver(note)
        except Undeliverable as exc:
            await self._finish(note, "failed", str(exc))
            return True
        except Exception as exc:
            log.warning("message delivery failed; will retry", message_id=note.message_id,
                        channel=note.channel, error=repr(exc)[:200])
            await self._retry(note, repr(exc))
            return False
        await self._finish(note, "sent", None)
        return True

    async def _with_link(self, note: Note) -> Note:
        if note.kind not in NEEDS_LINK or self._gateway is None or self._link_settings is None:
            return note
        async with self._db.uow() as uow:
            message = await uow.session.get(OutboundMessage, note.message_id)
            assert message is not None and message.consumer_id is not None
            consumer = await uow.session.get(Consumer, message.consumer_id)
            assert consumer is not None
            dues = await load_dues(uow.session, consumer.id)
            if dues.is_clear:
                return note
            link = await link_for_total(uow.session, self._gateway, self._link_settings,
                                        consumer, dues.total, message.chat_id, self._clock())
            await uow.commit()
        params = {**note.params, "total_paise": dues.total, "link_url": link.short_url}
        return Note(note.message_id, note.channel, note.chat_ref, note.language, note.kind,
                    params)

    async def _finish(self, note: Note, status: str, error: str | None) -> None:
        now = self._clock()
        async with self._db.uow() as uow:
            await uow.session.execute(
                update(OutboundMessage).where(OutboundMessage.id == note.message_id)
                .values(status=status, sent_at=now if status == "sent" else None,
                        last_error=error[:300] if error else None, lease_until=None,
                        tries=OutboundMessage.tries + 1))
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
