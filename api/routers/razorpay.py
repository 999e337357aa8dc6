"""`POST /webhooks/razorpay`: payments and payment-link events from Razorpay."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, status

from api.composition import Services
from api.deps import get_services
from api.http import read_body
from discom.clock import utcnow
from discom.payments.metrics import EVENTS_REFUSED
from discom.payments.razorpay_events import InvalidEvent, apply_event, parse_event
from discom.payments.razorpay_values import Refused
from discom.payments.signing import verify

router = APIRouter(tags=["webhooks"])
log = structlog.get_logger(__name__)


@router.post("/webhooks/razorpay")
async def razorpay_webhook(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> dict[str, str]:
    """Verify the signature over the raw bytes first; nothing is written for a bad request.

    Answers well within Razorpay's 5 s: the work is one database transaction, and the HES
    command and consumer messages are left to the worker (woken on commit).
    """
    body = await read_body(request)
    secret = services.settings.razorpay_webhook_secret.get_secret_value()
    if not verify(body, request.headers.get("x-razorpay-signature"), secret):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid signature")
    try:
        parsed = json.loads(body)
        parse_event(parsed)
    except (ValueError, InvalidEvent) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a Razorpay event") from exc
    # Razorpay always sends an event id; a signed body without one is keyed by its digest.
    event_id = request.headers.get("x-razorpay-event-id") or hashlib.sha256(body).hexdigest()
    try:
        async with services.db.uow() as uow:
            outcome = await apply_event(uow.session, event_id, parsed, utcnow())
            await services.wakeup.notify_on_commit(uow.session)
            await uow.commit()
    except Refused as refused:
        # Rolled back: nothing written. 200, for a redelivery would be refused the same way.
        EVENTS_REFUSED.labels(refused.reason).inc()
        log.warning("razorpay event refused", event_id=event_id, reason=refused.reason)
        return {"status": "refused"}
    return {"status": outcome.status}
