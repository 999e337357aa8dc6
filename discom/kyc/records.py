"""What a completed KYC writes, and what the discom reads back (lookups, export, rotation).

All functions run in the caller's transaction. Personal data goes in through `PiiVault`
(encrypted, with a keyed lookup hash) and comes out masked unless a caller asks otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.identifiers import mask_mobile, mask_tail
from discom.kyc.vault import PiiVault
from discom.models import (
    BankAccount,
    ChatAccount,
    Consumer,
    KycRecord,
    MobileChange,
    OtpChallenge,
)
from discom.sql import insert_if_absent

SAMAGRA = "samagra"
BANK_ACCOUNT = "bank_account"


@dataclass(frozen=True)
class Consent:
    """The consent text exactly as the consumer was shown it, and which version it was."""

    key: str
    version: str
    language: str
    text: str


async def linked_consumer(session: AsyncSession, chat_id: int, consumer_no: str
                          ) -> Consumer | None:
    """The consumer, if this chat is linked to it (by an earlier KYC)."""
    return await session.scalar(
        select(Consumer)
        .join(ChatAccount, ChatAccount.consumer_id == Consumer.id)
        .where(ChatAccount.chat_id == chat_id, Consumer.consumer_no == consumer_no))


async def link_chat(session: AsyncSession, chat_id: int, consumer_id: int, now: datetime
                    ) -> bool:
    """Link the chat to the account (dues, pay and notifications then need no number).
    False when it was linked already."""
    return await insert_if_absent(
        session, ChatAccount.__table__,
        {"chat_id": chat_id, "consumer_id": consumer_id, "linked_at": now},
        ["chat_id", "consumer_id"])


class UnverifiedChallenge(ValueError):
    """An account change asked for without the verified OTP it needs."""


def _require_verified(challenge: OtpChallenge, purpose: str) -> None:
    # A real check, not an `assert`: asserts vanish under `python -O`, and this one guards
    # who may take over an account (found by bandit, B101).
    if challenge.status != "verified" or challenge.purpose != purpose:
        raise UnverifiedChallenge(f"needs a verified {purpose} OTP")


async def record_kyc(session: AsyncSession, vault: PiiVault, *, challenge: OtpChallenge,
                     samagra_kind: str, samagra_id: str, channel: str, consent: Consent,
                     now: datetime) -> KycRecord:
    """Record a KYC verified by `challenge` (a used OTP) and link its chat to the account."""
    _require_verified(challenge, "kyc")
    record = KycRecord(
        consumer_id=challenge.consumer_id, samagra_kind=samagra_kind,
        samagra_id_encrypted=vault.encrypt(samagra_id),
        samagra_id_hash=vault.lookup_hash(SAMAGRA, samagra_id),
        verified_mobile=challenge.target_mobile, verified_at=now, channel=channel,
        chat_id=challenge.chat_id, otp_challenge_id=challenge.id, consent_key=consent.key,
        consent_version=consent.version, consent_language=consent.language,
        consent_text=consent.text)
    session.add(record)
    await session.flush()
    await link_chat(session, challenge.chat_id, challenge.consumer_id, now)
    return record


async def change_mobile(session: AsyncSession, *, challenge: OtpChallenge, old_notified: bool,
                        now: datetime) -> MobileChange:
    """Make the mobile verified by `challenge` (purpose mobile_change) the registered one."""
    _require_verified(challenge, "mobile_change")
    consumer = await session.get(Consumer, challenge.consumer_id, with_for_update=True)
    assert consumer is not None
    change = MobileChange(
        consumer_id=consumer.id, old_mobile=consumer.mobile,
        new_mobile=challenge.target_mobile, chat_id=challenge.chat_id,
        otp_challenge_id=challenge.id, old_mobile_notified=old_notified, changed_at=now)
    consumer.mobile, consumer.updated_at = challenge.target_mobile, now
    session.add(change)
    await session.flush()
    return change


async def save_bank_account(session: AsyncSession, vault: PiiVault, *, consumer_id: int,
                            chat_id: int | None, account_no: str, ifsc: str, now: datetime
                            ) -> BankAccount:
    """Keep `account_no` at `ifsc` as the consumer's bank account. The same account and IFSC
    entered again adds nothing; a different one becomes the current one."""
    current = await latest_bank_account(session, consumer_id)
    if (current is not None and current.ifsc == ifsc
            and vault.same_value(BANK_ACCOUNT, account_no, current.account_hash)):
        return current
    account = BankAccount(
        consumer_id=consumer_id, account_encrypted=vault.encrypt(account_no),
        account_last4=account_no[-4:], account_hash=vault.lookup_hash(BANK_ACCOUNT, account_no),
        ifsc=ifsc, chat_id=chat_id, created_at=now)
    session.add(account)
    await session.flush()
    return account


async def latest_bank_account(session: AsyncSession, consumer_id: int) -> BankAccount | None:
    return await session.scalar(
        select(BankAccount).where(BankAccount.consumer_id == consumer_id)
        .order_by(BankAccount.id.desc()).limit(1))


async def kyc_records_for_samagra(session: AsyncSession, vault: PiiVault, samagra_id: str
                                  ) -> list[KycRecord]:
    """KYC records with this Samagra ID, found by its keyed hash (under every key)."""
    hashes = vault.lookup_hashes(SAMAGRA, samagra_id)
    rows = await session.scalars(select(KycRecord).where(KycRecord.samagra_id_hash.in_(hashes))
                                 .order_by(KycRecord.verified_at))
    return list(rows)


async def consumers_with_bank_account(session: AsyncSession, vault: PiiVault, account_no: str
                                      ) -> list[int]:
    """Consumers who gave this account number (one account on many consumers: worth a look)."""
    hashes = vault.lookup_hashes(BANK_ACCOUNT, account_no)
    rows = await session.scalars(select(BankAccount.consumer_id).distinct()
                                 .where(BankAccount.account_hash.in_(hashes)))
    return sorted(rows)


# verified_mobile is the consumer's current verified mobile (changed in a chat after the KYC,
# or the one the KYC verified), verified at `mobile_verified_at`; `verified_at` is the KYC's.
EXPORT_COLUMNS = ("consumer_no", "samagra_kind", "samagra_id", "verified_mobile", "verified_at",
                  "channel", "consent_version", "consent_language", "bank_account", "ifsc",
                  "bank_account_added_at", "mobile_verified_at")


async def export_rows(session: AsyncSession, vault: PiiVault, *, unmasked: bool = False
                      ) -> AsyncIterator[dict[str, str]]:
    """Every KYC record, oldest first, with the consumer's current (newest) bank account;
    Samagra ID, mobile and account masked (last four) unless `unmasked`. Streamed: one query,
    rows decrypted as they are written."""
    newest_bank = (select(BankAccount.consumer_id, func.max(BankAccount.id).label("bank_id"))
                   .group_by(BankAccount.consumer_id).subquery())
    newest_change = (select(MobileChange.consumer_id,
                            func.max(MobileChange.id).label("change_id"))
                     .group_by(MobileChange.consumer_id).subquery())
    rows = await session.stream(
        select(KycRecord, Consumer.consumer_no, BankAccount, MobileChange)
        .join(Consumer, Consumer.id == KycRecord.consumer_id)
        .outerjoin(newest_bank, newest_bank.c.consumer_id == KycRecord.consumer_id)
        .outerjoin(BankAccount, BankAccount.id == newest_bank.c.bank_id)
        .outerjoin(newest_change, newest_change.c.consumer_id == KycRecord.consumer_id)
        .outerjoin(MobileChange, MobileChange.id == newest_change.c.change_id)
        .order_by(KycRecord.verified_at, KycRecord.id))
    async for record, consumer_no, bank, change in rows:
        mobile, mobile_verified_at = record.verified_mobile, record.verified_at
        if change is not None and change.changed_at > record.verified_at:
            mobile, mobile_verified_at = change.new_mobile, change.changed_at
        samagra = vault.decrypt(record.samagra_id_encrypted)
        account = ""
        if bank is not None:
            account = (vault.decrypt(bank.account_encrypted) if unmasked
                       else mask_tail(bank.account_last4))
        yield {
            "consumer_no": consumer_no,
            "samagra_kind": record.samagra_kind,
            "samagra_id": samagra if unmasked else mask_tail(samagra),
            "verified_mobile": mobile if unmasked else mask_mobile(mobile),
            "verified_at": record.verified_at.isoformat(),
            "channel": record.channel,
            "consent_version": record.consent_version,
            "consent_language": record.consent_language,
            "bank_account": account,
            "ifsc": bank.ifsc if bank is not None else "",
            "bank_account_added_at": bank.created_at.isoformat() if bank is not None else "",
            "mobile_verified_at": mobile_verified_at.isoformat(),
        }


async def rotate_batch(session: AsyncSession, vault: PiiVault, model: type[Any],
                       after_id: int, batch: int = 1000) -> tuple[int, int]:
    """Re-encrypt one batch of `model` rows (KycRecord or BankAccount) with id > `after_id`
    under the newest key, and re-hash them under the newest key's lookup hash. Returns how
    many rows were done (0: nothing left) and the last id. Idempotent: safe to run again."""
    rows = list(await session.scalars(
        select(model).where(model.id > after_id).order_by(model.id).limit(batch)
        .with_for_update()))
    for row in rows:
        if isinstance(row, KycRecord):
            samagra = vault.decrypt(row.samagra_id_encrypted)
            row.samagra_id_encrypted = vault.reencrypt(row.samagra_id_encrypted)
            row.samagra_id_hash = vault.lookup_hash(SAMAGRA, samagra)
        else:
            account = vault.decrypt(row.account_encrypted)
            row.account_encrypted = vault.reencrypt(row.account_encrypted)
            row.account_hash = vault.lookup_hash(BANK_ACCOUNT, account)
    await session.flush()
    return len(rows), (rows[-1].id if rows else after_id)


ROTATED_MODELS = (KycRecord, BankAccount)
