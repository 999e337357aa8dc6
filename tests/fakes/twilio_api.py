"""A fake Twilio REST API speaking the real wire format, for offline tests.

The official `twilio` client (requests, HTTP basic auth with the account SID and auth token,
form-encoded bodies) talks to it over HTTP on 127.0.0.1; point `client.api.base_url`
(TWILIO_API_BASE_URL) and `client.verify.base_url` (TWILIO_VERIFY_BASE_URL) at `base_url`.
It answers what Twilio answers, in Twilio's JSON shapes:

- Messages (api.twilio.com): `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` → 201 and a
  Message resource (`sid` SM…, `status` "queued", or "accepted" with a MessagingServiceSid);
  `GET …/Messages/{Sid}.json` → the resource as it is now. Refused as Twilio refuses them: no
  To (21604), no From/MessagingServiceSid (21603), no Body/MediaUrl/ContentSid (21602), a To
  that is not E.164 (21211), a body over 1600 characters (21617).
- Verify (verify.twilio.com): `POST /v2/Services/{ServiceSid}/Verifications` → 201, status
  "pending" (a second one to the same number while pending is the same verification, with
  the same code, and another send attempt; the sixth is 429/60203);
  `POST /v2/Services/{ServiceSid}/VerificationCheck` → 200 "approved" or, for a wrong code,
  200 "pending" (not an error); 429/60202 after 5 wrong checks; 404/20404 when no
  verification is pending (expired after 10 minutes, approved already, never made);
  `GET /v2/Services/{ServiceSid}/Verifications/{Sid}`.
- Authentication: a wrong SID or token is 401/20003; another account's path 404/20404.
  Errors are Twilio's legacy JSON (`code`, `message`, `more_info`, `status`), which the client
  turns into `TwilioRestException(status, code)`.

Every request is recorded (method, path, form fields, basic-auth user) for assertions, and
tests can make the next matching request fail with any status/code, or answer late (for
timeouts). Time for Verify expiry is `now()`, which tests move with `advance(seconds)`.

WhatsApp and delivery statuses (tests/twilio_steps.py posts what Twilio would post):
`open_whatsapp_window(number)` records an inbound WhatsApp message; with
`enforce_whatsapp_window` set, free text (a Body without ContentSid) to a `whatsapp:` number
whose window is shut is accepted (201, queued) and later fails with 63016, as Twilio does;
`status_callback(sid, status)` moves a message forward and returns the URL and form of
Twilio's status callback. `rate_limit_next` answers 429 with a `Retry-After` header, and
`arrivals()` gives the monotonic arrival time of every Messages request (sending rates).

The server runs in a background thread with its own event loop (like the fake Bot API), so
synchronous code (the twilio client in a worker thread, a CLI) and async tests can use it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.threaded_server import bound_listener, serving_in_thread

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
VERIFY_SERVICE_SID = "VA" + "fedcba9876543210" * 2
SMS_FROM = "BIJLII"  # a DLT sender header (6 letters), as Indian SMS uses
VERIFY_LIFETIME = timedelta(minutes=10)
VERIFY_MAX_CHECKS = 5
VERIFY_MAX_SENDS = 5
_E164 = re.compile(r"^(whatsapp:)?\+[1-9][0-9]{6,14}$")
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


@dataclass(frozen=True)
class TwilioRequest:
    method: str
    path: str
    form: dict[str, list[str]]
    user: str | None  # the basic-auth username (an account SID)

    def get(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Message:
    sid: str
    to: str
    from_: str | None
    body: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    status: str
    created: datetime
    form: dict[str, list[str]] = field(default_factory=dict)

    @property
    def segments(self) -> int:
        """SMS segments the body takes: GSM-7 160/153, otherwise UCS-2 70/67 (Hindi)."""
        body = self.body or ""
        single, part = (160, 153) if set(body) <= _GSM7 else (70, 67)
        return 1 if len(body) <= single else -(-len(body) // part)


@dataclass
class Verification:
    sid: str
    service_sid: str
    to: str
    channel: str
    locale: str | None
    code: str
    status: str
    created: datetime
    checks: int = 0
    sends: int = 1
    form: dict[str, list[str]] = field(default_factory=dict)


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str, *, problem: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.problem = problem  # answer as RFC 9457 problem details (newer Twilio APIs)
        self.retry_after = retry_after  # a Retry-After header (a 429)

    def response(self) -> JSONResponse:
        more_info = f"https://www.twilio.com/docs/errors/{self.code}"
        if self.problem:
            return JSONResponse({"type": more_info, "title": self.message, "status": self.status,
                                 "code": self.code, "detail": self.message},
                                status_code=self.status,
                                media_type="application/problem+json")
        headers = ({"Retry-After": f"{self.retry_after:g}"} if self.retry_after is not None
                   else None)
        return JSONResponse({"code": self.code, "message": self.message,
                             "more_info": more_info, "status": self.status},
                            status_code=self.status, headers=headers)


@dataclass
class _Planned:
    path_contains: str
    error: TwilioError | None = None
    delay: float = 0.0


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=False).replace("-0000", "+0000")


class FakeTwilioAPI:
    """The fake's state and HTTP app. Use through the `fake_twilio` fixture."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 verify_service_sid: str = VERIFY_SERVICE_SID) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.verify_service_sid = verify_service_sid
        self.port: int | None = None
        self._lock = threading.Lock()
        self._serving: contextlib.ExitStack | None = None
        self.reset()
        prefix = "/2010-04-01/Accounts/{account}"
        self.app = Starlette(routes=[
            Route(prefix + "/Messages.json", self._create_message, methods=["POST"]),
            Route(prefix + "/Messages/{sid}.json", self._fetch_message, methods=["GET"]),
            Route("/v2/Services/{service}/Verifications", self._create_verification,
                  methods=["POST"]),
            Route("/v2/Services/{service}/Verifications/{sid}", self._fetch_verification,
                  methods=["GET"]),
            Route("/v2/Services/{service}/VerificationCheck", self._check_verification,
                  methods=["POST"]),
        ])

    # --- for tests ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """TWILIO_API_BASE_URL and TWILIO_VERIFY_BASE_URL: both hosts are served here."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            # Requests still in flight from before (a delayed answer a client gave up on)
            # belong to an older generation and leave nothing behind.
            self._generation = getattr(self, "_generation", 0) + 1
            self._requests: list[TwilioRequest] = []
            self._messages: dict[str, Message] = {}
            self._verifications: dict[str, Verification] = {}
            self._planned: list[_Planned] = []
            self._offset = timedelta(0)
            # WhatsApp: when each number last wrote (its 24-hour window); messages that will
            # fail (SID → error code); arrival times of Messages requests.
            self.enforce_whatsapp_window = False
            self._window_opened: dict[str, datetime] = {}
            self._doomed: dict[str, int] = {}
            self._arrivals: list[tuple[float, str]] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock (Verify expiry) forward."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def requests(self, path_contains: str = "") -> list[TwilioRequest]:
        with self._lock:
            return [r for r in self._requests if path_contains in r.path]

    def messages(self, to: str | None = None) -> list[Message]:
        """Messages accepted, oldest first (optionally only those to one number)."""
        with self._lock:
            return [m for m in self._messages.values() if to is None or m.to == to]

    def verifications(self, to: str | None = None) -> list[Verification]:
        with self._lock:
            return [v for v in self._verifications.values() if to is None or v.to == to]

    def verification_code(self, to: str) -> str:
        """The code Verify "sent" to `to` (its newest verification)."""
        found = self.verifications(to)
        assert found, f"no verification to {to}"
        return found[-1].code

    def fail_next(self, path_contains: str, status: int, code: int, message: str = "error",
                  *, problem: bool = False) -> None:
        """The next request whose path contains `path_contains` fails like this (`problem`:
        in the RFC 9457 shape some newer Twilio APIs answer with)."""
        with self._lock:
            self._planned.append(_Planned(path_contains, TwilioError(status, code, message,
                                                                     problem=problem)))

    def delay_next(self, path_contains: str, seconds: float) -> None:
        """The next matching request is answered (normally) only after `seconds`."""
        with self._lock:
            self._planned.append(_Planned(path_contains, delay=seconds))

    def set_status(self, sid: str, status: str) -> Message:
        with self._lock:
            message = self._messages[sid]
            message.status = status
            return message

    def open_whatsapp_window(self, number: str) -> None:
        """`number` (E.164, with or without "whatsapp:") wrote to the business just now."""
        with self._lock:
            self._window_opened["whatsapp:" + number.removeprefix("whatsapp:")] = self.now()

    def _window_open(self, to: str) -> bool:
        opened = self._window_opened.get(to)
        return opened is not None and self.now() - opened < timedelta(hours=24)

    def doomed(self, sid: str) -> int | None:
        """The error a message will fail with (63016: free text outside the window)."""
        with self._lock:
            return self._doomed.get(sid)

    def status_callback(self, sid: str, status: str | None = None,
                        error_code: int | None = None) -> tuple[str, dict[str, str]]:
        """Move message `sid` to `status` (default: "failed" with its doomed error, else
        "delivered") and return (StatusCallback URL, form) of Twilio's callback for it."""
        with self._lock:
            message = self._messages[sid]
            doomed = self._doomed.get(sid)
            status = status or ("failed" if doomed else "delivered")
            error_code = error_code or (doomed if status in ("failed", "undelivered") else None)
            message.status = status
        form = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                "From": message.from_ or "", "To": message.to, "MessageSid": sid,
                "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
        if message.messaging_service_sid:
            form["MessagingServiceSid"] = message.messaging_service_sid
        if error_code:
            form["ErrorCode"] = str(error_code)
        assert message.status_callback, f"message {sid} was sent without a StatusCallback"
        return message.status_callback, form

    def rate_limit_next(self, path_contains: str, retry_after: float = 1.0) -> None:
        """The next matching request is answered 429 (20429) with `Retry-After`."""
        with self._lock:
            self._planned.append(_Planned(path_contains, TwilioError(
                429, 20429, "Too Many Requests", retry_after=retry_after)))

    def arrivals(self, to_prefix: str = "") -> list[float]:
        """Monotonic times at which Messages requests (to numbers starting with
        `to_prefix`, e.g. "whatsapp:") arrived, oldest first."""
        with self._lock:
            return [at for at, to in self._arrivals if to.startswith(to_prefix)]

    def start(self) -> None:
        listener, _ = bound_listener()
        self.port = listener.getsockname()[1]
        self._serving = contextlib.ExitStack()
        self._serving.enter_context(serving_in_thread(
            self.app, listener, what="the fake Twilio API", graceful_seconds=1))

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.close()

    # --- plumbing ----------------------------------------------------------------------------

    async def _begin(self, request: Request) -> TwilioRequest:
        """Record the request, authenticate it, and apply any planned failure or delay."""
        form = await request.form()
        fields: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            fields.setdefault(name, []).append(str(value))
        user, password = _basic_auth(request.headers.get("authorization", ""))
        recorded = TwilioRequest(request.method, request.url.path, fields, user)
        with self._lock:
            generation = self._generation
            self._requests.append(recorded)
            if recorded.path.endswith("/Messages.json"):
                self._arrivals.append((time.monotonic(), recorded.get("To") or ""))
            planned = next((p for p in self._planned if p.path_contains in recorded.path), None)
            if planned is not None:
                self._planned.remove(planned)
        if planned is not None and planned.delay:
            await asyncio.sleep(planned.delay)
            if generation != self._generation:
                raise TwilioError(503, 20503, "Service unavailable (the fake was reset)")
        if user != self.account_sid or password != self.auth_token:
            raise TwilioError(401, 20003, "Authenticate")
        account = request.path_params.get("account")
        if account is not None and account != self.account_sid:
            raise TwilioError(404, 20404, f"The requested resource {recorded.path} was not found")
        service = request.path_params.get("service")
        if service is not None and service != self.verify_service_sid:
            raise TwilioError(404, 20404, f"The requested resource {recorded.path} was not found")
        if planned is not None and planned.error is not None:
            raise planned.error
        return recorded

    async def _answer(self, request: Request, handler: Any) -> Response:
        try:
            recorded = await self._begin(request)
            status, body = handler(request, recorded)
        except TwilioError as error:
            return error.response()
        return JSONResponse(body, status_code=status)

    # --- Messages ----------------------------------------------------------------------------

    async def _create_message(self, request: Request) -> Response:
        return await self._answer(request, self._new_message)

    def _new_message(self, request: Request, recorded: TwilioRequest) -> tuple[int, dict]:
        to, from_ = recorded.get("To"), recorded.get("From")
        service, body = recorded.get("MessagingServiceSid"), recorded.get("Body")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not body and not recorded.get("MediaUrl") and not recorded.get("ContentSid"):
            raise TwilioError(400, 21602, "Message body is required.")
        if not _E164.match(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if body and len(body) > 1600:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 "
                                          "character limit.")
        message = Message(_sid("SM"), to, from_, body, service, recorded.get("StatusCallback"),
                          "accepted" if service and not from_ else "queued", self.now(),
                          recorded.form)
        with self._lock:
            self._messages[message.sid] = message
            if (self.enforce_whatsapp_window and to.startswith("whatsapp:") and body
                    and not recorded.get("ContentSid") and not self._window_open(to)):
                self._doomed[message.sid] = 63016  # fails later, as Twilio's does
        return 201, self._message_json(message)

    async def _fetch_message(self, request: Request) -> Response:
        def fetch(request: Request, recorded: TwilioRequest) -> tuple[int, dict]:
            with self._lock:
                message = self._messages.get(request.path_params["sid"])
            if message is None:
                raise TwilioError(404, 20404, f"The requested resource {recorded.path} was "
                                              "not found")
            return 200, self._message_json(message)

        return await self._answer(request, fetch)

    def _message_json(self, message: Message) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}"
        created = _rfc2822(message.created)
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": message.body,
            "date_created": created, "date_sent": None, "date_updated": created,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": message.from_, "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0", "num_segments": str(message.segments), "price": None,
            "price_unit": "USD", "sid": message.sid, "status": message.status,
            "subresource_uris": {"media": f"{uri}/Media.json"}, "to": message.to,
            "uri": f"{uri}.json",
        }

    # --- Verify ------------------------------------------------------------------------------

    async def _create_verification(self, request: Request) -> Response:
        return await self._answer(request, self._new_verification)

    def _pending(self, to: str | None, sid: str | None) -> Verification | None:
        now = self.now()
        for verification in reversed(self._verifications.values()):
            if (to and verification.to != to) or (sid and verification.sid != sid):
                continue
            if verification.status == "pending" and now - verification.created >= \
                    VERIFY_LIFETIME:
                verification.status = "expired"
            return verification if verification.status == "pending" else None
        return None

    def _new_verification(self, request: Request, recorded: TwilioRequest) -> tuple[int, dict]:
        to, channel = recorded.get("To"), recorded.get("Channel")
        if not to or not _E164.match(to):
            raise TwilioError(400, 60200, "Invalid parameter `To`")
        if channel not in ("sms", "call", "email", "whatsapp", "sna"):
            raise TwilioError(400, 60200, "Invalid parameter `Channel`")
        with self._lock:
            verification = self._pending(to, None)
            if verification is not None:
                if verification.sends >= VERIFY_MAX_SENDS:
                    raise TwilioError(429, 60203, "Max send attempts reached")
                verification.sends += 1
            else:
                code = recorded.get("CustomCode") or f"{secrets.randbelow(10**6):06d}"
                verification = Verification(
                    _sid("VE"), self.verify_service_sid, to, channel, recorded.get("Locale"),
                    code, "pending", self.now(), form=recorded.form)
                self._verifications[verification.sid] = verification
        return 201, self._verification_json(verification)

    async def _check_verification(self, request: Request) -> Response:
        return await self._answer(request, self._check)

    def _check(self, request: Request, recorded: TwilioRequest) -> tuple[int, dict]:
        code, to, sid = recorded.get("Code"), recorded.get("To"), recorded.get("VerificationSid")
        if not code:
            raise TwilioError(400, 60200, "Invalid parameter: Code")
        if not to and not sid:
            raise TwilioError(400, 60200, "Either a 'To' number or 'VerificationSid' must be "
                                          "specified")
        with self._lock:
            verification = self._pending(to, sid)
            if verification is None:
                raise TwilioError(404, 20404, f"The requested resource {recorded.path} was not "
                                              "found")
            if verification.checks >= VERIFY_MAX_CHECKS:
                raise TwilioError(429, 60202, "Max check attempts reached")
            verification.checks += 1
            if secrets.compare_digest(code, verification.code):
                verification.status = "approved"
            body = self._verification_json(verification)
        return 200, body

    async def _fetch_verification(self, request: Request) -> Response:
        def fetch(request: Request, recorded: TwilioRequest) -> tuple[int, dict]:
            with self._lock:
                verification = self._verifications.get(request.path_params["sid"])
                if verification is None or self._pending(None, verification.sid) is None:
                    raise TwilioError(404, 20404, f"The requested resource {recorded.path} was "
                                                  "not found")
                return 200, self._verification_json(verification)

        return await self._answer(request, fetch)

    def _verification_json(self, verification: Verification) -> dict[str, Any]:
        created = verification.created.isoformat().replace("+00:00", "Z")
        return {
            "sid": verification.sid, "service_sid": verification.service_sid,
            "account_sid": self.account_sid, "to": verification.to,
            "channel": verification.channel, "status": verification.status,
            "valid": verification.status == "approved", "lookup": {"carrier": None},
            "amount": None, "payee": None,
            "send_code_attempts": [{"attempt_sid": _sid("VL"), "channel": verification.channel,
                                    "time": created}] * verification.sends,
            "date_created": created, "date_updated": created, "sna": None,
            "url": f"https://verify.twilio.com/v2/Services/{verification.service_sid}"
                   f"/Verifications/{verification.sid}",
        }


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except ValueError:
        return None, None
    return user, password


# --- pytest fixtures (registered in tests/conftest.py via pytest_plugins) ---------------------

@pytest.fixture(scope="session")
def twilio_api_server() -> Iterator[FakeTwilioAPI]:
    server = FakeTwilioAPI()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_twilio(twilio_api_server: FakeTwilioAPI) -> FakeTwilioAPI:
    """The fake Twilio API with nothing recorded, nothing planned, its clock at now."""
    twilio_api_server.reset()
    return twilio_api_server
