"""Twilio's webhooks — inbound WhatsApp and SMS, delivery status callbacks — and the QR images
WhatsApp messages link to.

Every webhook is checked before anything is written: the body is bounded (Twilio's forms are
a few kB), then `X-Twilio-Signature` must be Twilio's HMAC of the URL *as configured in
Twilio* (`PUBLIC_BASE_URL` + path + query: behind a TLS-terminating proxy the request's own
URL is not what Twilio signed) and the form fields, by the twilio library's
`RequestValidator` with TWILIO_AUTH_TOKEN. Missing or wrong → 403, nothing written. With
Twilio not configured the routes answer 404 like any unknown path.

Inbound messages are answered with an empty `<Response/>` (TwiML): the dialog's turn is
committed first (so a re-delivered MessageSid is recognised), its replies are queued in the
outbox and sent through the REST API by the worker — nothing slow happens before the answer,
well inside Twilio's 15 s. Status callbacks move a delivery's status forward only, and a
`failed` / `undelivered` one moves the notification to the consumer's next channel.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from api.composition import Services
from api.deps import get_services
from api.http import read_body
from api.messaging import STATUS_CALLBACK_PATH
from bot.channels.media import PATH as MEDIA_PATH
from bot.channels.whatsapp import PREFIX as WHATSAPP_PREFIX
from bot.channels.whatsapp import InvalidInbound, parse_inbound
from discom.clock import utcnow
from discom.notify.deliveries import apply_status
from discom.payments.qr import qr_png

WHATSAPP_PATH = "/webhooks/twilio/whatsapp"
SMS_PATH = "/webhooks/twilio/sms"
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY_BYTES = 64 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

router = APIRouter(tags=["twilio"])


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="application/xml")


async def signed_form(request: Request, services: Services, path: str) -> dict[str, str]:
    """The form of a request Twilio signed, or an HTTPException (404, 413, 403)."""
    token = services.settings.twilio_auth_token
    if services.messaging.twilio is None or token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    body = await read_body(request, MAX_BODY_BYTES)
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        pairs = None
    url = services.settings.public_base_url.rstrip("/") + path
    if request.url.query:
        url += "?" + request.url.query
    if not signature or pairs is None or not RequestValidator(
            token.get_secret_value()).validate(url, ImmutableMultiDict(pairs), signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid Twilio signature")
    return dict(pairs)


@router.post(WHATSAPP_PATH)
async def whatsapp_inbound(request: Request,
                           services: Annotated[Services, Depends(get_services)]) -> Response:
    form = await signed_form(request, services, WHATSAPP_PATH)
    return await _take_inbound(form, services.messaging.whatsapp, prefix=WHATSAPP_PREFIX)


@router.post(SMS_PATH)
async def sms_inbound(request: Request,
                      services: Annotated[Services, Depends(get_services)]) -> Response:
    form = await signed_form(request, services, SMS_PATH)
    return await _take_inbound(form, services.messaging.sms, prefix="")


async def _take_inbound(form: dict[str, str], channel: Any, prefix: str) -> Response:
    """A verified inbound message to its channel (404 when this deployment has it off)."""
    if channel is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    try:
        message = parse_inbound(form, prefix=prefix)
    except InvalidInbound as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    await channel.take(message)
    return _twiml()


@router.post(STATUS_CALLBACK_PATH)
async def delivery_status(request: Request,
                          services: Annotated[Services, Depends(get_services)]) -> Response:
    form = await signed_form(request, services, STATUS_CALLBACK_PATH)
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    state = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or not state:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "MessageSid or MessageStatus missing")
    async with services.db.uow() as uow:
        outcome = await apply_status(uow.session, sid, state,
                                     (form.get("ErrorCode") or "").strip() or None, utcnow())
        if outcome.result == "fell_back":
            await services.wakeup.notify_on_commit(uow.session)
        await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(MEDIA_PATH + "/{token}.png")
async def qr_image(token: str, services: Annotated[Services, Depends(get_services)]
                   ) -> Response:
    """A payment link's QR code, for WhatsApp's `media_url` (bot/channels/media.py)."""
    links = services.messaging.qr_links
    link = links.link(token) if links is not None else None
    if link is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return Response(qr_png(link), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=86400"})
