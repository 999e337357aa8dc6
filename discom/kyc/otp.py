"""One-time passwords: issue, send, check — safe against guessing, flooding and replay.

- A code is 6 digits from `secrets`, stored only as a keyed HMAC bound to its purpose, chat,
  consumer and mobile (`PiiVault.otp_hash`), compared in constant time.
- It is single use (a conditional update marks it verified), expires after the policy's
  lifetime, and is locked after `max_tries` wrong guesses; a newer code supersedes it.
- It is usable only from the chat that asked for it: a code typed in another chat is checked
  against *that* chat's code, and so fails.
- At most `max_sends_per_hour` codes for one purpose (KYC, each side of a mobile change, a
  bank account) go to one consumer, and from one chat, in any hour; a chat may ask again only
  `resend_after` its last code, and any code for the same purpose to the same mobile, from
  any chat, waits `resend_after` too (so two chats cannot flood one phone).
- Answers do not reveal which check failed: wrong, expired, used, locked, superseded and
  "another chat's code" are all just "not verified". A refused send says "wait N seconds"
  only about the asking chat's own last code; any other limit gets one generic answer, so a
  chat learns nothing about codes asked for elsewhere.

A send is two steps: `reserve` runs in the caller's transaction (the dialog's turn) with the
consumer's row locked, so concurrent chats cannot both slip under a limit, and records the
code as `sending`; after the commit `deliver` calls the provider and records the outcome in a
transaction of its own. No connection or lock is held while Twilio answers (or hangs).

A check against Twilio Verify (a code Bijli never saw: `code_hash` is None) is asked the same
way, outside any transaction: `pending_provider_check` reads the chat's newest code in a short
read of its own, `ask_provider` asks Twilio with nothing open, and `match` (in the turn's
transaction) uses that `ProviderAnswer`. Without an answer for that very challenge and code,
`match` says "could not check just now" (not counted) — it never calls the provider itself.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from discom.db import Database
from discom.kyc.senders import OtpSender, SendFailed
from discom.kyc.vault import PiiVault
from discom.models import Consumer, OtpChallenge

log = structlog.get_logger(__name__)

CODE_DIGITS = 6
NOT_SENT, SENDING = "failed", "sending"
COUNTED = (SENDING, "pending", "verified", "locked", "superseded")  # all but NOT_SENT


@dataclass(frozen=True)
class OtpPolicy:
    lifetime: timedelta = timedelta(minutes=10)
    max_tries: int = 5
    resend_after: timedelta = timedelta(seconds=60)
    max_sends_per_hour: int = 3


@dataclass(frozen=True)
class Issued:
    challenge_id: int
    mobile: str
    sandbox_text: str | None  # the SMS as the sandbox "sent" it (shown on the console)


@dataclass(frozen=True)
class Reserved:
    """A code recorded and not yet sent: what `OtpService.deliver` needs after the commit.
    The code lives only here (in memory) and in the text; the database holds its hash."""

    challenge_id: int
    purpose: str
    chat_id: int
    mobile: str
    code: str | None
    text: str = field(repr=False)
    language: str


@dataclass(frozen=True)
class Refused:
    """No code sent. `wait_seconds` is set only when this chat's own last code for the same
    consumer and purpose is too recent (`code_pending`: and may still be typed); None means
    "a limit" (which one is not said)."""

    wait_seconds: int | None = None
    code_pending: bool = False


@dataclass(frozen=True)
class NotSent:
    """The provider did not take the code; `permanent`: this number cannot get one."""

    permanent: bool


@dataclass(frozen=True)
class Checked:
    ok: bool
    challenge: OtpChallenge | None = None  # when ok: what was verified (consumer, mobile)
    locked_now: bool = False  # this wrong guess was the last one allowed
    unavailable: bool = False  # the provider (Verify) could not be asked: not counted


@dataclass(frozen=True)
class ProviderAnswer:
    """What the provider said about `code` for one Verify challenge, asked before the turn's
    transaction: `ok` True (approved), False (wrong), None (could not be asked)."""

    challenge_id: int
    code: str = field(repr=False)
    ok: bool | None


def answer_for(challenge: OtpChallenge, code: str, asked: ProviderAnswer | None
               ) -> bool | None:
    """The pre-asked answer if it is about this challenge and this code; None otherwise
    (then the code is treated as "could not be checked just now", never asked here)."""
    if asked is None or asked.challenge_id != challenge.id or asked.code != code:
        return None
    return asked.ok


def otp_context(purpose: str, chat_id: int, consumer_id: int, mobile: str) -> str:
    return f"{purpose}|{chat_id}|{consumer_id}|{mobile}"


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def looks_like_code(text: str) -> bool:
    return len(text) == CODE_DIGITS and text.isascii() and text.isdigit()


class OtpService:
    def __init__(self, sender: OtpSender, vault: PiiVault, policy: OtpPolicy | None = None,
                 *, make_code: Callable[[], str] = new_code) -> None:
        self.sender = sender
        self.policy = policy or OtpPolicy()
        self._vault = vault
        self._make_code = make_code

    async def reserve(self, session: AsyncSession, *, purpose: str, consumer_id: int,
                      chat_id: int, mobile: str, now: datetime, text: Callable[[str], str],
                      language: str) -> Reserved | Refused:
        """Step one of a send, in the caller's transaction: decide (under the consumer's row
        lock) whether a code may go, and record it as `sending`. The caller commits, then
        calls `deliver` — no network call while the transaction (and the lock) is held."""
        await session.execute(select(Consumer.id).where(Consumer.id == consumer_id)
                              .with_for_update())
        refusal = await self._refusal(session, purpose, consumer_id, chat_id, mobile, now)
        if refusal is not None:
            log.info("otp.refused", purpose=purpose, chat=chat_id,
                     own_resend=refusal.wait_seconds is not None)
            return refusal
        code = None if self.sender.provider_checks else self._make_code()
        challenge = OtpChallenge(
            purpose=purpose, consumer_id=consumer_id, chat_id=chat_id, target_mobile=mobile,
            code_hash=None if code is None else self._vault.otp_hash(
                code, otp_context(purpose, chat_id, consumer_id, mobile)),
            status=SENDING, tries=0, expires_at=now + self.policy.lifetime, created_at=now)
        session.add(challenge)
        await session.flush()
        return Reserved(challenge.id, purpose, chat_id, mobile, code,
                        text(code) if code is not None else "", language)

    async def deliver(self, db: Database, reserved: Reserved) -> Issued | NotSent:
        """Step two, after the commit: send the code, then record the outcome in a short
        transaction of its own. A crash between the two leaves a `sending` row that is
        counted against the limits and can never be typed."""
        try:
            delivery = await self.sender.send_code(reserved.mobile, reserved.code,
                                                   reserved.text, reserved.language)
        except SendFailed as failure:
            async with db.uow() as uow:
                await uow.session.execute(
                    update(OtpChallenge).where(OtpChallenge.id == reserved.challenge_id)
                    .values(status=NOT_SENT))
                await uow.commit()
            log.warning("otp.not_sent", purpose=reserved.purpose,
                        challenge=reserved.challenge_id, reason=str(failure),
                        permanent=failure.permanent)
            return NotSent(permanent=failure.permanent)
        async with db.uow() as uow:
            await uow.session.execute(
                update(OtpChallenge)
                .where(OtpChallenge.chat_id == reserved.chat_id,
                       OtpChallenge.purpose == reserved.purpose,
                       OtpChallenge.status == "pending", OtpChallenge.id != reserved.challenge_id)
                .values(status="superseded"))
            await uow.session.execute(
                update(OtpChallenge).where(OtpChallenge.id == reserved.challenge_id,
                                           OtpChallenge.status == SENDING)
                .values(status="pending", provider_ref=delivery.provider_ref))
            await uow.commit()
        log.info("otp.sent", purpose=reserved.purpose, challenge=reserved.challenge_id,
                 chat=reserved.chat_id)
        return Issued(reserved.challenge_id, reserved.mobile, delivery.sandbox_text)

    async def _refusal(self, session: AsyncSession, purpose: str, consumer_id: int,
                       chat_id: int, mobile: str, now: datetime) -> Refused | None:
        hour_ago = now - timedelta(hours=1)
        counted = OtpChallenge.status.in_(COUNTED)
        own_last = (await session.execute(
            select(OtpChallenge.created_at, OtpChallenge.status).where(
                counted, OtpChallenge.chat_id == chat_id, OtpChallenge.purpose == purpose,
                OtpChallenge.consumer_id == consumer_id)
            .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc()).limit(1))).first()
        if own_last is not None and own_last.created_at + self.policy.resend_after > now:
            wait = (own_last.created_at + self.policy.resend_after - now).total_seconds()
            return Refused(wait_seconds=max(1, math.ceil(wait)),
                           code_pending=own_last.status == "pending")
        same_purpose = OtpChallenge.purpose == purpose
        mobile_last = await session.scalar(
            select(func.max(OtpChallenge.created_at)).where(
                counted, same_purpose, OtpChallenge.target_mobile == mobile))
        if mobile_last is not None and mobile_last + self.policy.resend_after > now:
            return Refused()
        for scope in (OtpChallenge.consumer_id == consumer_id, OtpChallenge.chat_id == chat_id):
            sends = await session.scalar(
                select(func.count()).select_from(OtpChallenge).where(
                    counted, same_purpose, scope, OtpChallenge.created_at > hour_ago))
            if (sends or 0) >= self.policy.max_sends_per_hour:
                return Refused()
        return None

    async def pending_mobile(self, session: AsyncSession, *, purpose: str, chat_id: int
                             ) -> str | None:
        """The mobile this chat's newest code went to (to remind them where to look)."""
        challenge = await self._latest(session, purpose, chat_id, lock=False)
        return challenge.target_mobile if challenge is not None else None

    async def pending_provider_check(self, session: AsyncSession, *, purpose: str,
                                     chat_id: int, now: datetime) -> OtpChallenge | None:
        """This chat's newest code for `purpose` if the provider checks it (Verify) and it may
        still be typed: read without a lock, before the turn, to ask the provider first."""
        challenge = await self._latest(session, purpose, chat_id, lock=False)
        if (challenge is None or challenge.code_hash is not None
                or challenge.status != "pending" or challenge.expires_at <= now):
            return None
        return challenge

    async def ask_provider(self, challenge_id: int, mobile: str, code: str) -> ProviderAnswer:
        """Ask the provider about `code` — call with no transaction open."""
        try:
            ok: bool | None = await self.sender.check_code(mobile, code)
        except SendFailed as failure:
            log.warning("otp.check_unavailable", challenge=challenge_id, reason=str(failure))
            ok = None
        return ProviderAnswer(challenge_id, code, ok)

    async def match(self, session: AsyncSession, *, purpose: str, chat_id: int, code: str,
                    now: datetime, asked: ProviderAnswer | None = None) -> Checked:
        """Check `code` against this chat's newest code for `purpose`, without using it up.
        A wrong guess counts a try; the last allowed one locks the code. A Verify code is
        judged by `asked` (the provider's answer, asked before the transaction)."""
        challenge = await self._latest(session, purpose, chat_id, lock=True)
        if challenge is None or challenge.status != "pending" or challenge.expires_at <= now:
            self._vault.otp_hashes(code, "no challenge")  # the same work as a real check
            return Checked(ok=False)
        if challenge.code_hash is None:
            answer = answer_for(challenge, code, asked)
            if answer is None:
                log.info("otp.check_not_asked", challenge=challenge.id,
                         asked=asked is not None)
                return Checked(ok=False, unavailable=True)
            ok = answer
        else:
            ok = self._vault.same_otp(code, otp_context(
                challenge.purpose, challenge.chat_id, challenge.consumer_id,
                challenge.target_mobile), challenge.code_hash)
        if ok:
            return Checked(ok=True, challenge=challenge)
        challenge.tries += 1
        locked = challenge.tries >= self.policy.max_tries
        if locked:
            challenge.status = "locked"
        await session.flush()
        log.info("otp.wrong_code", challenge=challenge.id, tries=challenge.tries,
                 locked=locked)
        return Checked(ok=False, locked_now=locked)

    async def consume(self, session: AsyncSession, challenge: OtpChallenge, now: datetime
                      ) -> bool:
        """Use the code up (single use): True only for the one caller that did."""
        result = await session.execute(
            update(OtpChallenge)
            .where(OtpChallenge.id == challenge.id, OtpChallenge.status == "pending")
            .values(status="verified", consumed_at=now)
            .execution_options(synchronize_session=False))
        used = result.rowcount == 1
        if used:
            challenge.status, challenge.consumed_at = "verified", now
            log.info("otp.verified", challenge=challenge.id)
        return used

    async def verify(self, session: AsyncSession, *, purpose: str, chat_id: int, code: str,
                     now: datetime, asked: ProviderAnswer | None = None) -> Checked:
        """`match` then `consume`: the usual way to check a code."""
        checked = await self.match(session, purpose=purpose, chat_id=chat_id, code=code,
                                   now=now, asked=asked)
        if checked.ok and checked.challenge is not None and not await self.consume(
                session, checked.challenge, now):
            return Checked(ok=False)
        return checked

    async def _latest(self, session: AsyncSession, purpose: str, chat_id: int, *, lock: bool
                      ) -> OtpChallenge | None:
        query = (select(OtpChallenge)
                 .where(OtpChallenge.chat_id == chat_id, OtpChallenge.purpose == purpose,
                        OtpChallenge.status != NOT_SENT)
                 .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc())
                 .limit(1))
        if lock:
            query = query.with_for_update()
        return await session.scalar(query)
