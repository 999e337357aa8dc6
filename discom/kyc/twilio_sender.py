"""Twilio adapters for `OtpSender`: SMS through the Messages API, or Twilio Verify.

The official client (`twilio.rest.Client`) is synchronous (requests): every call runs in a
worker thread with the client's own socket timeout, and the await is abandoned a second after
it. Base URLs come from settings (`TWILIO_API_BASE_URL` for `api.twilio.com`,
`TWILIO_VERIFY_BASE_URL` for `verify.twilio.com`) so tests and the embedded default talk to a
local server speaking Twilio's wire format.

India: SMS needs a DLT-registered sender (`TWILIO_SMS_FROM`) and template. Twilio's Messages
API takes no template id — Twilio matches the body against the templates registered with it —
so the body must be the registered text; the template id configured per kind
(`TWILIO_DLT_TEMPLATE_IDS`) is logged with each message sid, to trace operator rejections.

Nothing here logs a phone number, a code or a message text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import structlog
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from discom.kyc.senders import Delivery, SendFailed

log = structlog.get_logger(__name__)

T = TypeVar("T")
# Twilio errors about the *recipient's number* that retrying will not cure: invalid "To"
# (21211), unsubscribed (21610), unroutable (21612), not a mobile (21614), Verify's landline
# refusal (60205). Anything else (a bad "From", credentials, region permissions, 5xx, 429) is
# ours or passing: the consumer is asked to try later and the error is logged.
PERMANENT_CODES = frozenset({21211, 21610, 21612, 21614, 60205})
VERIFY_MAX_CHECKS = 60202  # too many checks for this verification
VERIFY_NOT_FOUND = 20404  # no pending verification: expired, approved already, or never made
# An error answer: the legacy JSON shape, or RFC 9457 problem details (twilio 9.x raises a
# separate class for those; both carry `status` and `code`).
REST_ERRORS = (TwilioRestException, TwilioServiceException)


def twilio_client(account_sid: str, auth_token: str, *, api_base_url: str,
                  verify_base_url: str, timeout: float) -> Client:
    """The official client, pointed at the configured hosts. TWILIO_EDGE/TWILIO_REGION from the
    environment are ignored: the base URLs are the one configuration of where Twilio is."""
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    client.edge = None
    client.region = None
    client.api.base_url = api_base_url.rstrip("/")
    client.verify.base_url = verify_base_url.rstrip("/")
    return client


async def _call(call: Callable[[], T], seconds: float, what: str) -> T:
    """Run one blocking Twilio call in a thread (the client's own socket timeout is `seconds`;
    the await gives up a second later); failures become `SendFailed`."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(call), seconds + 1.0)
    except TimeoutError:
        raise SendFailed(f"{what}: no answer in {seconds:g}s") from None
    except REST_ERRORS as error:
        raise SendFailed(f"{what}: Twilio {error.status} error {error.code}",
                         permanent=error.code in PERMANENT_CODES) from None
    except requests.Timeout:
        raise SendFailed(f"{what}: timed out after {seconds:g}s") from None
    except (requests.RequestException, TwilioException) as error:
        raise SendFailed(f"{what}: {type(error).__name__}") from None


class TwilioSms:
    """Plain SMS through `POST /2010-04-01/Accounts/{sid}/Messages.json`."""

    def __init__(self, client: Client, sms_from: str, *, timeout: float,
                 dlt_template_ids: dict[str, str] | None = None) -> None:
        self._client, self._from, self._timeout = client, sms_from, timeout
        self._dlt = dict(dlt_template_ids or {})

    async def send(self, to: str, text: str, kind: str) -> Delivery:
        message = await _call(
            lambda: self._client.messages.create(to=to, from_=self._from, body=text),
            self._timeout, f"sms.{kind}")
        log.info("twilio.sms_accepted", kind=kind, sid=message.sid, status=message.status,
                 dlt_template_id=self._dlt.get(kind))
        return Delivery(message.sid)


class TwilioSmsSender:
    """Bijli makes the code; Twilio sends it as an SMS."""

    provider_checks = False

    def __init__(self, client: Client, sms: TwilioSms) -> None:
        self._client, self._sms = client, sms

    async def send_code(self, to: str, code: str | None, text: str, language: str
                        ) -> Delivery:
        return await self._sms.send(to, text, "otp")

    async def check_code(self, to: str, code: str) -> bool:
        raise NotImplementedError("Bijli checks the codes it made")

    async def send_sms(self, to: str, text: str, kind: str) -> Delivery:
        return await self._sms.send(to, text, kind)

    def close(self) -> None:
        _close(self._client)


class TwilioVerifySender:
    """Twilio Verify makes, sends and checks the code (`TWILIO_VERIFY_SERVICE_SID`).

    A wrong code is `status="pending"` (not an error); a verification that expired, was
    approved already, or was never made answers 404 (20404); too many checks 429 (60202).
    All of these are simply "not verified". Notices still go by plain SMS (`sms`), which
    needs TWILIO_SMS_FROM.
    """

    provider_checks = True

    def __init__(self, client: Client, service_sid: str, *, timeout: float,
                 sms: TwilioSms | None, template_sid: str | None = None) -> None:
        self._client, self._service_sid, self._timeout = client, service_sid, timeout
        self._sms, self._template_sid = sms, template_sid

    def _service(self) -> Any:
        return self._client.verify.v2.services(self._service_sid)

    async def send_code(self, to: str, code: str | None, text: str, language: str
                        ) -> Delivery:
        extra = {"template_sid": self._template_sid} if self._template_sid else {}
        verification = await _call(
            lambda: self._service().verifications.create(to=to, channel="sms", locale=language,
                                                         **extra),
            self._timeout, "verify.send")
        log.info("twilio.verification_started", sid=verification.sid,
                 status=verification.status)
        return Delivery(verification.sid)

    async def check_code(self, to: str, code: str) -> bool:
        try:
            check = await asyncio.wait_for(asyncio.to_thread(
                lambda: self._service().verification_checks.create(to=to, code=code)),
                self._timeout + 1.0)
        except REST_ERRORS as error:
            if error.status == 404 or error.code in (VERIFY_NOT_FOUND, VERIFY_MAX_CHECKS):
                log.info("twilio.verification_not_pending", code=error.code)
                return False
            raise SendFailed(f"verify.check: Twilio {error.status} error {error.code}"
                             ) from None
        except TimeoutError:
            raise SendFailed(f"verify.check: no answer in {self._timeout:g}s") from None
        except (requests.RequestException, TwilioException) as error:
            raise SendFailed(f"verify.check: {type(error).__name__}") from None
        return check.status == "approved"

    async def send_sms(self, to: str, text: str, kind: str) -> Delivery:
        if self._sms is None:
            raise SendFailed("TWILIO_SMS_FROM is unset: no plain SMS", permanent=True)
        return await self._sms.send(to, text, kind)

    def close(self) -> None:
        _close(self._client)


def _close(client: Client) -> None:
    session = getattr(client.http_client, "session", None)
    if session is not None:
        session.close()
