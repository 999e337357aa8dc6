"""What KYC tells the registered mobile, through the outbox (written in the same transaction
as the change, sent by the worker: no network call inside the dialog's transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from discom.identifiers import mask_tail
from discom.models import BankAccount, Consumer
from discom.notify.outbox import notify_chat, notify_consumer
from discom.notify.routing import sms_chat_for

BANK_ACCOUNT_CHANGED = "bank_account_changed"


async def tell_bank_account_changed(session: AsyncSession, consumer: Consumer,
                                    account: BankAccount, language: str, now: datetime) -> int:
    """An SMS to the registered mobile after every bank-account change: subsidy money follows
    the account, so a change its holder did not make must not go unnoticed. Where this
    deployment sends no SMS, the account's own chains (linked chats) are told instead."""
    params = {"consumer_no": consumer.consumer_no, "account": mask_tail(account.account_last4),
              "ifsc": account.ifsc, "at": now.isoformat()}
    dedupe_key = f"{BANK_ACCOUNT_CHANGED}/{account.id}"
    sms = await sms_chat_for(session, consumer.id, language, now)
    if sms is not None:
        return await notify_chat(session, sms, BANK_ACCOUNT_CHANGED, params,
                                 consumer_id=consumer.id, dedupe_key=dedupe_key, now=now)
    return await notify_consumer(session, consumer.id, BANK_ACCOUNT_CHANGED, params,
                                 dedupe_key=dedupe_key, now=now)
