"""How long KYC keeps mobile numbers it no longer needs (docs/design.md, "Retention").

- OTP challenges (each holds the mobile a code went to): deleted `otp_days` after they were
  made — except the one a KYC record or a mobile change cites as its proof, which lives as
  long as that record.
- Mobile changes (old and new number): deleted after `mobile_change_days`; the challenges
  they cited go with the next run.

Run by the worker's hourly housekeeping; each run is one short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from discom.db import Database
from discom.models import KycRecord, MobileChange, OtpChallenge


@dataclass(frozen=True)
class Retention:
    otp_days: int = 30
    mobile_change_days: int = 365


async def prune_kyc(db: Database, now: datetime, retention: Retention) -> tuple[int, int]:
    """Delete what is past its retention; returns (challenges, mobile changes) deleted."""
    async with db.uow() as uow:
        changes = await uow.session.execute(delete(MobileChange).where(
            MobileChange.changed_at < now - timedelta(days=retention.mobile_change_days)))
        cited = select(KycRecord.otp_challenge_id).union(
            select(MobileChange.otp_challenge_id))
        challenges = await uow.session.execute(delete(OtpChallenge).where(
            OtpChallenge.created_at < now - timedelta(days=retention.otp_days),
            OtpChallenge.id.not_in(cited)))
        await uow.commit()
    return challenges.rowcount or 0, changes.rowcount or 0
