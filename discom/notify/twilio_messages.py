"""Sending WhatsApp and SMS messages through Twilio's Messages API, asynchronously.

The official client (`twilio.rest.Client`) does the request building and response parsing;
its transport is `HttpxTwilioClient`, an `AsyncHttpClient` over httpx, so sends are awaited
side by side on the event loop (no thread per send) with a timeout, and a 429 keeps its
`Retry-After` (the client's own exception carries no headers). The REST base URL is
`TWILIO_API_BASE_URL`, so tests talk to a local server speaking Twilio's wire format.

Errors are sorted for the outbox: a refusal that retrying cannot cure (`Undeliverable`: an
invalid or landline number, a recipient not on WhatsApp, outside the 24-hour window — 63016,
an unsubscribed number) moves the message to the consumer's next channel; a 429 is
`RateLimited`; anything else (timeouts, 5xx, a wrong account key) is retried later.

Nothing here logs a phone number or a message text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from discom.clock import utcnow
from discom.notify.pacing import RateLimited
from discom.notify.sender import Undeliverable

log = structlog.get_logger(__name__)

# Twilio errors that no retry cures (https://www.twilio.com/docs/api/errors):
# 21211 invalid To, 21408 region not enabled, 21610 recipient replied STOP, 21612 cannot
# route, 21614 not a mobile, 21606 invalid From for this To, 63003 To is not on WhatsApp,
# 63016 free text outside the 24-hour window, 63024 invalid recipient, 63030 unsupported
# parameter for the channel, 63032 user's WhatsApp too old / blocked business.
PERMANENT_CODES = frozenset({21211, 21408, 21610, 21612, 21614, 21606, 63003, 63016, 63024,
                             63030, 63032})
OUTSIDE_WINDOW = 63016
DEFAULT_RETRY_AFTER = 1.0


class TwilioUnavailable(Exception):
    """Twilio did not take the message this time (timeout, 5xx, auth): try again later."""


@dataclass(frozen=True, slots=True)
class Accepted:
    sid: str
    status: str


class HttpxTwilioClient(AsyncHttpClient):
    """The twilio library's async transport, over one pooled httpx client."""

    def __init__(self, timeout: float, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        super().__init__(log, True, timeout)  # type: ignore[arg-type]
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None,
                      headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None,
                      timeout: float | None = None,  # noqa: ASYNC109 - the library's signature
                      allow_redirects: bool = False) -> TwilioResponse:
        response = await self._client.request(
            method, uri, params=params, data=data, headers=headers, auth=auth,
            timeout=timeout or self.timeout, follow_redirects=allow_redirects)
        if response.status_code == 429:
            raise RateLimited(_retry_after(response.headers.get("retry-after")),
                              "Twilio 429 Too Many Requests")
        return TwilioResponse(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        await self._client.aclose()


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds or as an HTTP date; a default when absent or unreadable."""
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - utcnow()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


class TwilioMessages:
    """`POST /2010-04-01/Accounts/{sid}/Messages.json`, with a status callback on every send."""

    def __init__(self, account_sid: str, auth_token: str, *, api_base_url: str,
                 status_callback: str | None, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = HttpxTwilioClient(timeout, transport)
        client = Client(account_sid, auth_token, http_client=self._http)
        # The base URL is the one configuration of where Twilio is (TWILIO_EDGE / REGION from
        # the environment would rewrite the host).
        client.edge = None
        client.region = None
        client.api.base_url = api_base_url.rstrip("/")
        self._client = client
        self._status_callback = status_callback

    async def send(self, *, to: str, from_: str, body: str | None = None,
                   media_url: list[str] | None = None, content_sid: str | None = None,
                   content_variables: dict[str, str] | None = None) -> Accepted:
        extra: dict[str, Any] = {}
        if body is not None:
            extra["body"] = body
        if media_url:
            extra["media_url"] = media_url
        if content_sid is not None:
            extra["content_sid"] = content_sid
            extra["content_variables"] = json.dumps(content_variables or {},
                                                    ensure_ascii=False)
        if self._status_callback:
            extra["status_callback"] = self._status_callback
        try:
            message = await self._client.messages.create_async(to=to, from_=from_, **extra)
        except (TwilioRestException, TwilioServiceException) as error:
            # Legacy JSON errors are TwilioRestException; RFC 9457 "problem" answers (newer
            # APIs) are TwilioServiceException, which is not a subclass of it.
            raise _classified(error) from None
        except (httpx.HTTPError, TwilioException) as error:
            raise TwilioUnavailable(f"Twilio unreachable: {type(error).__name__}") from None
        return Accepted(str(message.sid), str(message.status))

    async def close(self) -> None:
        await self._http.close()


def _classified(error: TwilioRestException | TwilioServiceException) -> Exception:
    code = error.code if isinstance(error.code, int) else None
    reason = f"Twilio {error.status} error {code}"
    if code in PERMANENT_CODES:
        return Undeliverable(reason)
    if error.status in (401, 403) or error.status >= 500:
        return TwilioUnavailable(reason)  # our credentials, or Twilio itself: retry, alert
    if 400 <= error.status < 500:
        return Undeliverable(reason)
    return TwilioUnavailable(reason)
