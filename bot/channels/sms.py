"""The SMS channel, through Twilio: keywords in, short answers out, and the fallback of every
notification.

Inbound (`POST /webhooks/twilio/sms`): every SMS costs the consumer and the discom, so there
is no menu and no conversation — one keyword, one answer:

    BILL <consumer no>     बिल <क्रमांक>      what is owed and by when
    PAY [<consumer no>]    भुगतान [<क्रमांक>]   a payment link for the total
    STATUS [<consumer no>] स्थिति [<क्रमांक>]   whether the supply is on
    HELP                   मदद                the keywords

The number may be left out after the first message: the chat remembers the last one. A
number alone (with digits in it) counts as BILL; free text is read by `bot.intents`
("mera bill kitna hai 1000000004" is BILL 1000000004, "light kab aayegi" STATUS). The
answer is in the language of the keyword (Devanagari → Hindi, else English), which also
becomes the chat's language for later notifications. The lookups follow the dialog's
rules: a typed number shows amounts and dates only, and one number may look up at most
`LOOKUPS_PER_CHAT_PER_HOUR` accounts an hour. The answer is queued in the outbox in the same
transaction that records the MessageSid (a re-delivery is answered once).

Outbound (`SmsMessenger`): the compact `sms.<kind>` texts (1-2 segments, Hindi in UCS-2 as
well), from `TWILIO_SMS_FROM` (a DLT sender id in India). Twilio's API takes no DLT template
id — Twilio matches the text against the templates registered with it — so the id configured
per kind (`TWILIO_DLT_TEMPLATE_IDS`) is recorded with the delivery; once any id is
configured, a kind without one is not sent (operators would block it) and the message fails
over instead. The pacer is charged per segment, as Twilio's queues count.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.sms_text import segments, sms_amount
from bot.channels.whatsapp import InboundMessage
from bot.dialog.deps import DialogDeps
from bot.dialog.store import open_chat
from bot.dialog.text import clean
from bot.intents import Intent, read
from bot.locales import keywords, translate
from bot.notifications import render_sms
from discom.accounts import Account, load_account
from discom.clock import show_date, utcnow
from discom.db import Database
from discom.identifiers import InvalidIdentifier, normalise_consumer_no
from discom.inbound import first_time
from discom.lookups import chat_lookups_after
from discom.models import Chat, Consumer, PaymentLink
from discom.money import format_inr
from discom.notify.audience import is_holder_chat
from discom.notify.outbox import PRIORITY_REPLY, notify_chat
from discom.notify.sender import Note, Sent, Undeliverable
from discom.notify.twilio_messages import TwilioMessages
from discom.payments.link_requests import LinkClaim, make_link, request_link
from discom.worker.wakeup import Wakeup

CHANNEL = "sms"
KEYWORDS = ("bill", "pay", "status", "help")
MEMORY_NUMBER = "sms_consumer_no"
MEMORY_LOOKUPS = "sms_lookups"


@dataclass(frozen=True, slots=True)
class SmsCommand:
    keyword: str  # bill | pay | status | help
    argument: str | None
    language: str


def _devanagari(text: str) -> bool:
    return any("DEVANAGARI" in unicodedata.name(ch, "") for ch in text)


def parse_command(text: str | None) -> SmsCommand:
    """The keyword and its argument; free text is read for its intent ("mera bill kitna hai
    1000000004" is BILL 1000000004); anything unrecognised is HELP."""
    cleaned = clean(text or "")
    first, _, rest = cleaned.partition(" ")
    word = first.strip("?!.,;:।'\"#*").casefold()
    language = "hi" if _devanagari(text or "") else "en"
    for keyword in KEYWORDS:
        if word in keywords(f"sms.words_{keyword}"):
            return SmsCommand(keyword, rest.strip() or None, language)
    reading = read(cleaned)
    keyword = _FREE_TEXT.get(reading.intent)
    if keyword is None and reading.consumer_no and reading.intent is None:
        keyword = "bill"
    if keyword is None:
        return SmsCommand("help", None, language)
    return SmsCommand(keyword, reading.consumer_no, language)


# What free text asks for, as SMS keywords; KYC, language and the rest are the HELP answer.
_FREE_TEXT = {Intent.DUES: "bill", Intent.PAY: "pay", Intent.STATUS: "status"}


class SmsChannel:
    """Answers inbound SMS keywords; the answers go out through the outbox."""

    def __init__(self, db: Database, deps: DialogDeps, wakeup: Wakeup, *,
                 default_language: str = "hi", clock: Callable[[], datetime] = utcnow) -> None:
        self._db, self._deps, self._wakeup = db, deps, wakeup
        self._default_language, self._clock = default_language, clock

    async def take(self, message: InboundMessage) -> bool:
        """Answer one SMS; False when it was a re-delivery (nothing done)."""
        command = parse_command(message.text)
        now = self._clock()
        async with self._db.uow() as uow:
            session = uow.session
            if not await first_time(session, CHANNEL, message.sid, now):
                return False
            chat, conversation = await open_chat(session, CHANNEL, message.sender,
                                                 self._default_language, now)
            chat.language = command.language
            memory = dict(conversation.data.get("memory", {}))
            answer = await _Answer(session, chat, memory, self._deps, now).to(command)
            conversation.data = {"task": {}, "memory": memory}
            conversation.updated_at = now
            if not isinstance(answer, _LinkToMake):
                await self._reply(session, chat, answer, message.sid, now)
            await uow.commit()
        if isinstance(answer, _LinkToMake):  # Razorpay is called with no transaction open
            reply = await self._made_link(answer)
            async with self._db.uow() as uow:
                chat = await uow.session.get(Chat, answer.claim.chat_id)
                assert chat is not None
                await self._reply(uow.session, chat, reply, message.sid, self._clock())
                await uow.commit()
        return True

    async def _reply(self, session: AsyncSession, chat: Chat, answer: tuple[str, str],
                     sid: str, now: datetime) -> None:
        kind, text = answer
        await notify_chat(session, chat, kind, {"text": text}, consumer_id=None,
                          dedupe_key=f"reply/{CHANNEL}/{sid}", now=now, priority=PRIORITY_REPLY)
        await self._wakeup.notify_on_commit(session)

    async def _made_link(self, pending: _LinkToMake) -> tuple[str, str]:
        deps = self._deps
        assert deps.gateway is not None and deps.link_settings is not None
        try:
            link = await make_link(self._db, deps.gateway, deps.link_settings, pending.claim,
                                   self._clock())
        except deps.gateway_errors:
            return "reply_pay", translate(pending.language, "sms.reply_pay_later")
        return "reply_pay", translate(pending.language, "sms.reply_pay", amount=pending.amount,
                                      consumer_no=pending.claim.consumer_no,
                                      link=link.short_url)


@dataclass(frozen=True, slots=True)
class _LinkToMake:
    """A PAY answer that needs a new link: made after the commit (link_requests.py)."""

    claim: LinkClaim
    amount: str
    language: str


@dataclass
class _Answer:
    session: AsyncSession
    chat: Chat
    memory: dict[str, Any]
    deps: DialogDeps
    now: datetime

    def t(self, language: str, key: str, **values: object) -> str:
        return translate(language, key, **values)

    async def to(self, command: SmsCommand) -> tuple[str, str] | _LinkToMake:
        """(outbox kind, text) of the answer."""
        language = command.language
        if command.keyword == "help":
            return "reply_help", self.t(language, "sms.reply_help")
        consumer_no = self.memory.get(MEMORY_NUMBER)
        if command.argument:
            try:
                consumer_no = normalise_consumer_no(command.argument)
            except InvalidIdentifier:
                return "reply_help", self.t(language, "sms.reply_need_number")
            if not self._within_quota():
                return "reply_help", self.t(language, "sms.reply_too_many")
        if not consumer_no:
            return "reply_help", self.t(language, "sms.reply_need_number")
        account = await load_account(self.session, consumer_no)
        if account is None:
            return "reply_help", self.t(language, "sms.reply_unknown", consumer_no=consumer_no)
        self.memory[MEMORY_NUMBER] = consumer_no
        if command.keyword == "status":
            return "reply_status", self.t(language, "sms.reply_status",
                                          consumer_no=consumer_no,
                                          supply=_supply(account, language))
        if account.dues.is_clear:
            return "reply_bill", self.t(language, "sms.reply_bill_clear",
                                        consumer_no=consumer_no)
        amount = sms_amount(format_inr(account.dues.total, language), language)
        if command.keyword == "pay":
            return await self._pay(account, amount, language)
        due = account.dues.due_date
        return "reply_bill", self.t(language, "sms.reply_bill", consumer_no=consumer_no,
                                    amount=amount,
                                    due_date=show_date(due, language) if due else "-")

    async def _pay(self, account: Account, amount: str, language: str
                   ) -> tuple[str, str] | _LinkToMake:
        deps = self.deps
        if not deps.can_pay:
            return "reply_pay", self.t(language, "sms.reply_pay_later")
        consumer = await self.session.get(Consumer, account.consumer_id)
        assert consumer is not None and deps.link_settings is not None
        found = await request_link(
            self.session, consumer, account.dues.total, self.chat.id, self.now,
            deps.link_settings,
            for_holder=await is_holder_chat(self.session, self.chat.id, consumer.id))
        if isinstance(found, LinkClaim):
            return _LinkToMake(found, amount, language)
        if isinstance(found, PaymentLink):
            return "reply_pay", self.t(language, "sms.reply_pay", amount=amount,
                                       consumer_no=account.consumer_no, link=found.short_url)
        # This phone's request is with Razorpay right now: its answer brings the link.
        return "reply_pay", self.t(language, "sms.reply_pay_on_its_way")

    def _within_quota(self) -> bool:
        stamps = chat_lookups_after(self.memory.get(MEMORY_LOOKUPS, []), self.now,
                                    self.deps.lookup_limits.per_chat)
        if stamps is None:
            return False
        self.memory[MEMORY_LOOKUPS] = stamps
        return True


def _supply(account: Account, language: str) -> str:
    state = account.supply.state
    if state == "disconnected" and account.supply.reason == "non_payment":
        state = "disconnected_non_payment"
    return translate(language, f"sms.supply.{state}")


class SmsMessenger:
    """Delivers outbox notes by SMS (discom.notify.sender.Messenger)."""

    def __init__(self, twilio: TwilioMessages, sender: str,
                 dlt_template_ids: Mapping[str, str] | None = None) -> None:
        self._twilio, self._from = twilio, sender
        self._dlt = dict(dlt_template_ids or {})

    def cost(self, note: Note) -> float:
        return float(max(segments(render_sms(note)), 1))

    async def deliver(self, note: Note) -> Sent:
        template = self._dlt.get(note.kind)
        if self._dlt and not template:
            raise Undeliverable(f"no DLT template registered for {note.kind}")
        accepted = await self._twilio.send(to=note.chat_ref, from_=self._from,
                                           body=render_sms(note))
        return Sent(accepted.sid, accepted.status, template_ref=template)
