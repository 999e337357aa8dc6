"""Steps shared by the payment tests: ask for a link, count what was written, edit events.

Everything here goes through the app's public surface (the dialog, signed webhooks, the ops
API) or reads the database; nothing reaches into production internals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from discom.accounts import load_dues
from discom.clock import utcnow
from discom.db import Database
from discom.demo import DEMO_CONSUMERS
from discom.ledger import Dues
from discom.models import (
    Chat,
    ChatAccount,
    InboundEvent,
    LedgerEntry,
    OutboundMessage,
    Payment,
    PaymentLink,
    ReconnectionOrder,
    TimelineEvent,
)
from discom.payments.sandbox import WebhookEvent
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import BijliApp

DISCONNECTED = "disconnected for non-payment, with charges"  # owes ₹2,870.00
DISCONNECTED_TOTAL = 287_000
DUE_SOON = "bill due in 3 days"  # owes ₹3,456.78, connected
PAID_UP = "paid up"
MANUAL = "disconnected manually (not for dues)"

# Tables a rejected request must leave alone.
WRITTEN = {
    "inbound_events": InboundEvent, "payments": Payment, "ledger_entries": LedgerEntry,
    "payment_links": PaymentLink, "reconnection_orders": ReconnectionOrder,
    "outbound_messages": OutboundMessage, "timeline_events": TimelineEvent,
}


def demo_owed(case: str) -> int:
    """What a demo consumer owes, from the demo data itself (paise)."""
    demo = next(d for d in DEMO_CONSUMERS if d.case == case)
    return sum(b[1] for b in demo.bills) + sum(c[1] for c in demo.charges) - demo.paid


async def counts(bijli: BijliApp) -> dict[str, int]:
    async with bijli.db.uow() as uow:
        return {name: await uow.session.scalar(select(func.count()).select_from(model))
                for name, model in WRITTEN.items()}


async def dues_of(bijli: BijliApp, consumer_no: str) -> Dues:
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        return await load_dues(uow.session, consumer_id)


async def payment_credits(bijli: BijliApp, consumer_no: str) -> list[int]:
    """The ledger's payment entries for the account, beyond the demo's own (paise, positive)."""
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        rows = await uow.session.scalars(
            select(LedgerEntry.amount_paise).where(
                LedgerEntry.consumer_id == consumer_id, LedgerEntry.kind == "payment",
                LedgerEntry.detail != "demo").order_by(LedgerEntry.id))
        return [-amount for amount in rows]


async def links_of(bijli: BijliApp, consumer_no: str) -> list[PaymentLink]:
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        return list((await uow.session.scalars(select(PaymentLink).where(
            PaymentLink.consumer_id == consumer_id).order_by(PaymentLink.id))).all())


@dataclass
class Payer:
    """A consumer's chat that asked for a payment link in the dialog."""

    chat: ChatDriver
    link_url: str
    answer: str

    @property
    def link_id(self) -> str:
        return link_id(self.link_url)


async def ask_for_link(bijli: BijliApp, consumer_no: str, chat_ref: str = "payer") -> Payer:
    chat = ChatDriver(bijli.services.dialog, chat_ref)
    await chat.start_in("en")
    answer = await chat.send(f"/pay {consumer_no}")
    link = next((reply.link for reply in chat.last if reply.link), None)
    assert link, answer
    return Payer(chat, link, answer)


async def link_chat_to(bijli: BijliApp, chat_ref: str, consumer_no: str) -> None:
    """Make a console chat the account's own (what KYC will do): a ChatAccount row."""
    chat = ChatDriver(bijli.services.dialog, chat_ref)
    await chat.start_in("en")
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        chat_id = await uow.session.scalar(select(Chat.id).where(
            Chat.channel == "console", Chat.external_id == chat_ref))
        uow.session.add(ChatAccount(chat_id=chat_id, consumer_id=consumer_id,
                                    linked_at=utcnow()))
        await uow.commit()


def link_id(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def edited(event: WebhookEvent, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The event's body changed by `change` and serialised again (the caller signs it)."""
    document = event.json()
    change(document)
    return json.dumps(document).encode()


def entity(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["payload"][name]["entity"]


def console_text(bijli: BijliApp) -> str:
    return "\n".join(bijli.console_lines)


@pytest.fixture(autouse=True)
async def fresh_database(db: Database) -> None:
    """Imported by the payment test modules so that `db` (which empties PostgreSQL before
    each test) runs before `bijli` seeds the demo: the `bijli` fixture does not ask for
    `db` itself, so on PostgreSQL one test's payments would leak into the next."""


TIMELINE_LINE = re.compile(
    r"^(?P<day>\d{1,2}) (?P<month>\S+), (?P<time>\d\d:\d\d:\d\d) (?P<what>.+)$")


def timeline_lines(answer: str) -> list[re.Match[str]]:
    """The lines under "Recent events:", each "27 Nov, 10:02:11 payment received"."""
    lines = answer.splitlines()
    if "Recent events:" not in lines:
        return []
    after = lines[lines.index("Recent events:") + 1:]
    return [m for m in map(TIMELINE_LINE.match, after) if m]
