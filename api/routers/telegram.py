"""`POST /webhooks/telegram`: Telegram's deliveries in webhook mode.

The route exists only when Telegram runs in webhook mode (token and webhook secret both set);
otherwise it is not mounted and the path answers 404, as any unknown path does, so a probe
learns nothing about the configuration.

Checks, in this order, each answered before anything is read further or written:
1. `X-Telegram-Bot-Api-Secret-Token` must equal TELEGRAM_WEBHOOK_SECRET (compared in constant
   time): missing or wrong → 403;
2. a body over `MAX_BODY_BYTES` → 413 (Telegram's updates are a few kB);
3. a body that is not a JSON object, or not a Telegram Update → 400.

The update is then processed inside the request, so the dialog's turn (and the update_id that
dedupes a re-delivery) is committed before Telegram gets its 200. When a handler failed (the
database was down, say), the turn was rolled back and the answer is 500: Telegram re-delivers
the update later. Failures to *send* a reply do not count: the turn is committed by then, and
a re-delivery would only be recognised as a duplicate.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.composition import Services
from api.deps import get_services
from api.http import read_body
from bot.channels.telegram import InvalidUpdate, parse_update, process_webhook_update
from bot.channels.telegram_setup import WEBHOOK_PATH
from discom.settings import Settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BODY_BYTES = 1024 * 1024

router = APIRouter(tags=["telegram"])


def webhook_configured(settings: Settings) -> bool:
    return settings.telegram_bot_token is not None and settings.telegram_webhook_secret is not None


@router.post(WEBHOOK_PATH, response_class=Response)
async def telegram_webhook(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Response:
    application = services.telegram
    secret = services.settings.telegram_webhook_secret
    if application is None or secret is None:
        raise HTTPException(status_code=404)
    if not secret_matches(request.headers.get(SECRET_HEADER), secret.get_secret_value()):
        raise HTTPException(status_code=403, detail="wrong or missing secret token")
    if not application.running:
        # Telegram was unreachable at start and the bot is not up yet: Telegram redelivers.
        raise HTTPException(status_code=503, detail="the bot is starting")
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        update = parse_update(_json(body), application.bot)
    except InvalidUpdate as error:
        raise HTTPException(status_code=400, detail=str(error)) from None
    if not await process_webhook_update(application, update):
        return Response(status_code=500)
    return Response(status_code=200)


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, on bytes so a non-ASCII header cannot raise."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        raise InvalidUpdate("the body is not JSON") from None
    except RecursionError:  # [[[[...]]]] 100,000 deep
        raise InvalidUpdate("the body is nested too deeply") from None
