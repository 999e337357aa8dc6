"""`/ops/kyc-reviews`: what only staff can decide about a KYC (discom/kyc/identity.py).

- `name_near`: the Samagra registry's name nearly matched the account's. Approving lets the
  consumer complete KYC with that Samagra ID (the OTP to the registered mobile still follows).
- `lost_mobile`: a linked consumer cannot receive codes on the old registered number. The
  decision is recorded; the change itself is made at the counter.

Behind the bearer `OPS_API_TOKEN`; a decision names its operator (`X-Operator`), kept with it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update

from api.composition import Services
from api.deps import get_services
from api.http import require_ops_token
from discom.clock import utcnow
from discom.identifiers import mask_tail
from discom.models import Consumer, KycReview

router = APIRouter(prefix="/ops/kyc-reviews", tags=["ops"],
                   dependencies=[Depends(require_ops_token)])
ServicesDep = Annotated[Services, Depends(get_services)]
Operator = Annotated[str, Header(alias="X-Operator", min_length=2, max_length=80,
                                 pattern=r"^[A-Za-z0-9_.@ -]+$")]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]


@router.get("")
async def list_reviews(
    services: ServicesDep,
    review_status: Annotated[Literal["pending", "approved", "rejected"],
                             Query(alias="status")] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Reviews by status, oldest first (the pending ones by default)."""
    vault = services.kyc.vault if services.kyc is not None else None
    async with services.db.uow() as uow:
        rows = await uow.session.execute(
            select(KycReview, Consumer.consumer_no, Consumer.name)
            .join(Consumer, Consumer.id == KycReview.consumer_id)
            .where(KycReview.status == review_status)
            .order_by(KycReview.created_at, KycReview.id).limit(limit))
        return [_shown(review, no, name, vault) for review, no, name in rows]


def _shown(review: KycReview, consumer_no: str, name: str, vault: Any) -> dict[str, Any]:
    samagra = None
    if review.samagra_id_encrypted and vault is not None:
        samagra = mask_tail(vault.decrypt(review.samagra_id_encrypted))
    return {"review_id": review.id, "kind": review.kind, "consumer_no": consumer_no,
            "name_on_account": name, "registry_name": review.registry_name,
            "samagra_kind": review.samagra_kind, "samagra_id": samagra,
            "status": review.status, "created_at": review.created_at,
            "decided_by": review.decided_by, "decided_at": review.decided_at}


@router.post("/{review_id}/decision")
async def decide(review_id: Annotated[int, Path(ge=1, le=2**62)], body: Decision,
                 operator: Operator, services: ServicesDep) -> dict[str, Any]:
    """Approve or reject a pending review, once: a decided one answers 409."""
    decided = "approved" if body.decision == "approve" else "rejected"
    now = utcnow()
    async with services.db.uow() as uow:
        result = await uow.session.execute(
            update(KycReview)
            .where(KycReview.id == review_id, KycReview.status == "pending")
            .values(status=decided, decided_by=operator.strip(), decided_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            exists = await uow.session.scalar(select(KycReview.id)
                                              .where(KycReview.id == review_id))
            if exists is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "no such review")
            raise HTTPException(status.HTTP_409_CONFLICT, "this review was decided already")
        await uow.commit()
    return {"review_id": review_id, "status": decided, "decided_by": operator.strip(),
            "decided_at": now}
