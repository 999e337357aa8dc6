"""Is the Samagra ID typed for an account the account holder's? (a rule, then a record)

- The billing export gave the consumer's Samagra ID: the typed one must equal it (compared by
  keyed hash), and the registry is not asked.
- Staff approved this ID for this account after a near name match: accepted.
- Otherwise the registry is asked: the ID must exist, and the name of the member (or of one
  of the family's members) must match the name on the account (`discom.kyc.names`). A near
  match becomes a staff review (`KycReview`, `GET /ops/kyc-reviews`); a clear mismatch is
  refused and counted.

`RegistryUnavailable` passes through: the caller answers "try later" and records nothing.
The dialog asks the registry before its transaction opens (`RegistryAnswer`,
`bot/dialog/kyc_prefetch.py`), so no row lock or pooled connection waits on the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discom.kyc.names import NameMatch, best_match
from discom.kyc.records import SAMAGRA
from discom.kyc.samagra import Member, RegistryUnavailable, SamagraRegistry, members_for
from discom.kyc.vault import PiiVault
from discom.models import Consumer, KycReview

log = structlog.get_logger(__name__)

SAMAGRA_REFUSED = Counter("bijli_kyc_samagra_refused_total",
                          "Samagra IDs refused at KYC", ["reason"])


class Verdict(StrEnum):
    VERIFIED = "verified"
    NOT_FOUND = "not_found"
    MISMATCH = "mismatch"  # a name clearly not the account holder's, or not the imported ID
    REVIEW = "review"  # a near match: staff decide


@dataclass(frozen=True)
class SamagraCheck:
    verdict: Verdict
    registry_name: str | None = None  # the nearest name, for the staff review only


@dataclass(frozen=True)
class RegistryAnswer:
    """What the registry said about one typed ID, asked before the turn's transaction."""

    samagra_id: str
    members: list[Member] | None  # None: not found
    unavailable: bool = False


async def settled_without_registry(session: AsyncSession, vault: PiiVault, consumer: Consumer,
                                   samagra_id: str) -> SamagraCheck | None:
    """The verdict when the registry is not needed: the billing export's ID decides, or staff
    approved this ID for this account. None: ask the registry."""
    if consumer.samagra_id_hash is not None:
        same = vault.same_value(SAMAGRA, samagra_id, consumer.samagra_id_hash)
        return _counted(SamagraCheck(Verdict.VERIFIED if same else Verdict.MISMATCH),
                        "imported_id")
    if await _approved_by_staff(session, vault, consumer.id, samagra_id):
        return SamagraCheck(Verdict.VERIFIED)
    return None


async def ask_registry(registry: SamagraRegistry, kind: str, samagra_id: str
                       ) -> RegistryAnswer:
    try:
        return RegistryAnswer(samagra_id, await members_for(registry, kind, samagra_id))
    except RegistryUnavailable:
        return RegistryAnswer(samagra_id, None, unavailable=True)


async def check_samagra(session: AsyncSession, registry: SamagraRegistry, vault: PiiVault,
                        consumer: Consumer, kind: str, samagra_id: str, *,
                        asked: RegistryAnswer | None = None) -> SamagraCheck:
    """The verdict on a typed ID. `asked`: the registry's answer fetched before the turn
    (used when it is about this ID; otherwise the registry is asked now). Raises
    `RegistryUnavailable`."""
    settled = await settled_without_registry(session, vault, consumer, samagra_id)
    if settled is not None:
        return settled
    if asked is None or asked.samagra_id != samagra_id:
        asked = await ask_registry(registry, kind, samagra_id)
    if asked.unavailable:
        raise RegistryUnavailable("the registry did not answer")
    return judge_members(consumer.name, asked.members)


def judge_members(account_name: str, members: list[Member] | None) -> SamagraCheck:
    if not members:
        return _counted(SamagraCheck(Verdict.NOT_FOUND), "not_found")
    outcomes = [(best_match(account_name, [member.name, member.name_hi]), member.name)
                for member in members]
    if any(outcome == NameMatch.MATCH for outcome, _ in outcomes):
        return SamagraCheck(Verdict.VERIFIED)
    near = [name for outcome, name in outcomes if outcome == NameMatch.NEAR]
    if near:
        return SamagraCheck(Verdict.REVIEW, registry_name=near[0])
    return _counted(SamagraCheck(Verdict.MISMATCH), "name_mismatch")


def _counted(check: SamagraCheck, reason: str) -> SamagraCheck:
    if check.verdict != Verdict.VERIFIED:
        SAMAGRA_REFUSED.labels(reason=reason).inc()
        log.info("kyc.samagra_refused", reason=reason)
    return check


async def _approved_by_staff(session: AsyncSession, vault: PiiVault, consumer_id: int,
                             samagra_id: str) -> bool:
    found = await session.scalar(
        select(KycReview.id).where(
            KycReview.consumer_id == consumer_id, KycReview.kind == "name_near",
            KycReview.status == "approved",
            KycReview.samagra_id_hash.in_(vault.lookup_hashes(SAMAGRA, samagra_id)))
        .limit(1))
    return found is not None


async def ask_for_review(session: AsyncSession, vault: PiiVault, *, kind: str,
                         consumer_id: int, chat_id: int, now: datetime,
                         samagra_kind: str | None = None, samagra_id: str | None = None,
                         registry_name: str | None = None) -> KycReview:
    """A staff review of `kind` ("name_near", "lost_mobile"); an identical one still pending
    is reused, so asking twice does not queue twice."""
    samagra_hash = vault.lookup_hash(SAMAGRA, samagra_id) if samagra_id else None
    pending = await session.scalar(
        select(KycReview).where(KycReview.consumer_id == consumer_id, KycReview.kind == kind,
                                KycReview.chat_id == chat_id, KycReview.status == "pending"))
    if pending is not None and pending.samagra_id_hash == samagra_hash:
        return pending
    review = KycReview(
        kind=kind, consumer_id=consumer_id, chat_id=chat_id, samagra_kind=samagra_kind,
        samagra_id_encrypted=vault.encrypt(samagra_id) if samagra_id else None,
        samagra_id_hash=samagra_hash, registry_name=registry_name, status="pending",
        created_at=now)
    session.add(review)
    await session.flush()
    log.info("kyc.review_requested", kind=kind, review=review.id)
    return review
