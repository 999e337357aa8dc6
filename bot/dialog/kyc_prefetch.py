"""The Samagra registry is asked before the turn's transaction opens.

A message that could be a Samagra ID (8 or 9 digits) sent by a chat in the Samagra step is
looked up first: a short read finds the step and the account, then the registry is asked with
no transaction open, and the turn uses the answer (`discom.kyc.identity.check_samagra`). A
chat whose state changed meanwhile gets an answer for nothing; the turn asks again then.

A code typed by a chat waiting for one that Twilio Verify checks (`OtpChallenge.code_hash` is
None) is asked the same way (`ask_provider_first`): a short read finds the chat's newest code
for the step, then Twilio is asked with no transaction open, and `OtpService.match` uses the
answer for that challenge. There the turn never asks again: with no answer (or one about
another challenge) the code is "not checked just now", not counted, and may be typed again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.dialog.kyc_codes import OTP_STATES, typed_code
from bot.dialog.messages import Incoming
from bot.dialog.text import clean
from bot.dialog.turn import State
from discom.db import Database
from discom.identifiers import InvalidIdentifier, normalise_samagra_id
from discom.kyc import KycServices
from discom.kyc.identity import RegistryAnswer, ask_registry, settled_without_registry
from discom.kyc.otp import ProviderAnswer, looks_like_code
from discom.models import Chat, Consumer, Conversation


async def ask_registry_first(db: Database, kyc: KycServices, incoming: Incoming
                             ) -> RegistryAnswer | None:
    """The registry's answer about a Samagra ID typed in the Samagra step (else None)."""
    try:
        kind, samagra_id = normalise_samagra_id(incoming.text or "")
    except InvalidIdentifier:
        return None
    async with db.uow() as uow:
        row = (await uow.session.execute(
            select(Conversation.state, Conversation.data)
            .join(Chat, Chat.id == Conversation.chat_id)
            .where(Chat.channel == incoming.channel, Chat.external_id == incoming.chat_ref)
        )).first()
        if row is None or row.state != State.KYC_SAMAGRA:
            return None
        consumer_id = (row.data or {}).get("task", {}).get("consumer_id")
        consumer = await uow.session.get(Consumer, int(consumer_id)) if consumer_id else None
        if consumer is None or await settled_without_registry(uow.session, kyc.vault, consumer,
                                                              samagra_id) is not None:
            return None
    return await ask_registry(kyc.registry, kind, samagra_id)


async def ask_provider_first(db: Database, kyc: KycServices, incoming: Incoming,
                             now: datetime) -> ProviderAnswer | None:
    """The provider's answer about a code typed by a chat waiting for a Verify code (else
    None). Only the read is in a transaction; Twilio is asked after it ends."""
    if not kyc.otp.sender.provider_checks:
        return None
    code = typed_code(clean(incoming.text or ""))
    if not looks_like_code(code):
        return None
    async with db.uow() as uow:
        row = (await uow.session.execute(
            select(Conversation.state, Conversation.expires_at, Chat.id)
            .join(Chat, Chat.id == Conversation.chat_id)
            .where(Chat.channel == incoming.channel, Chat.external_id == incoming.chat_ref)
        )).first()
        if (row is None or row.state not in OTP_STATES
                or (row.expires_at is not None and row.expires_at <= now)):
            return None
        challenge = await kyc.otp.pending_provider_check(
            uow.session, purpose=OTP_STATES[State(row.state)], chat_id=row.id, now=now)
        if challenge is None:
            return None
        challenge_id, mobile = challenge.id, challenge.target_mobile
    return await kyc.otp.ask_provider(challenge_id, mobile, code)
