"""The Samagra registry is asked before the turn's transaction opens.

A message that could be a Samagra ID (8 or 9 digits) sent by a chat in the Samagra step is
looked up first: a short read finds the step and the account, then the registry is asked with
no transaction open, and the turn uses the answer (`discom.kyc.identity.check_samagra`). A
chat whose state changed meanwhile gets an answer for nothing; the turn asks again then.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.dialog.messages import Incoming
from bot.dialog.turn import State
from discom.db import Database
from discom.identifiers import InvalidIdentifier, normalise_samagra_id
from discom.kyc import KycServices
from discom.kyc.identity import RegistryAnswer, ask_registry, settled_without_registry
from discom.models import Chat, Consumer, Conversation


async def ask_registry_first(db: Database, kyc: KycServices, incoming: Incoming
                             ) -> RegistryAnswer | None:
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
