"""`POST /webhooks/hes`: command results and meter events from the head-end system."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from api.composition import Services
from api.deps import get_services
from api.http import read_body
from discom.clock import utcnow
from discom.hes.client import CommandResult, InvalidCallback, parse_callback
from discom.hes.signing import verify
from discom.reconnection.hes_events import apply_command_report, apply_meter_report
from discom.worker.wakeup import MESSAGES

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/hes")
async def hes_webhook(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> dict[str, str]:
    body = await read_body(request, limit=64 * 1024)
    secret = services.settings.hes_webhook_secret.get_secret_value()
    if not verify(body, request.headers.get("x-hes-signature"), secret):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid signature")
    try:
        report = parse_callback(body)
    except InvalidCallback as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    now = utcnow()
    max_future = timedelta(seconds=services.settings.hes_event_max_future_seconds)
    async with services.db.uow() as uow:
        if isinstance(report, CommandResult):
            fresh = await apply_command_report(uow.session, report, now,
                                               backoff=services.backoff, rng=services.rng,
                                               max_future=max_future)
            outcome = "applied" if fresh else "duplicate"
        else:
            outcome = await apply_meter_report(uow.session, report, now,
                                               charges=services.charges,
                                               backoff=services.backoff, rng=services.rng,
                                               max_future=max_future)
        # Messages to send ("supply restored", "delayed"); no order is due at once: a failed
        # command's retry waits for its backoff, which the worker's poll finds.
        await services.wakeup.notify_on_commit(uow.session, MESSAGES)
        await uow.commit()
    return {"status": outcome}
