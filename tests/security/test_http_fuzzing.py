"""HTTP fuzzing with schemathesis over the app's own OpenAPI schema: every route, unsigned and
signed, never a 5xx, and a rejected request (4xx) writes nothing.

The app runs live on a socket (uvicorn in a thread) with every channel configured against
the wire-level fakes: Telegram webhook mode, Twilio, the payment sandbox, the HES simulator,
the ops token. Each route is fuzzed twice:

- unsigned: what anyone on the internet can send;
- signed: a hook signs each generated body as its caller would (Razorpay HMAC, HES HMAC,
  Telegram's secret token, Twilio's signature over the public URL and form, the ops bearer
  token), so the fuzzer gets past authentication into the handlers.

The webhook routes read their raw bytes (to check signatures), so FastAPI cannot describe
their bodies; `_describe_webhook_bodies` adds the shapes the providers send, loose enough
for the fuzzer to try wrong types, missing fields and huge numbers.

Examples per route and mode: `BIJLI_FUZZ_EXAMPLES` (default 12; CI sets its own).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select, text
from twilio.request_validator import RequestValidator

from api.app import create_app
from discom.db import Database
from discom.demo import seed
from discom.hes.signing import HEADER as HES_HEADER
from discom.hes.signing import sign as hes_sign
from discom.models import Base
from discom.payments.signing import sign as razorpay_sign
from discom.settings import Settings
from tests.conftest import ON_POSTGRES
from tests.fakes.bijli_app import OPS_TOKEN, WEBHOOK_SECRET, serve_live, test_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.threaded_server import bound_listener
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioAPI

EXAMPLES = int(os.environ.get("BIJLI_FUZZ_EXAMPLES", "12"))
TELEGRAM_SECRET = "fuzz-telegram-secret_0123456789abcdef"
HES_SECRET = "fuzz-hes-webhook-secret-0123456789abcdef"
# Routes with 5xx on input bounds another change fixes (issue 10, Low 8): `days`/`limit` out
# of range (/ops/field-reconnections: OverflowError, found here; /ops/reconnections?limit=-1
# on PostgreSQL), huge numbers on /ops/payments, NUL bytes in Telegram updates on
# PostgreSQL. They are fuzzed in tests of their own, marked xfail, not hidden; drop a route
# from here when its fix lands.
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, migrated_template: str,
         telegram_api_server: FakeTelegramAPI, twilio_api_server: FakeTwilioAPI
         ) -> Iterator[tuple[str, Settings, Database, asyncio.Runner]]:
    runner = asyncio.Runner()
    if ON_POSTGRES:
        url = migrated_template
        runner.run(_truncate(url))
    else:
        path = tmp_path_factory.mktemp("fuzz") / "bijli.db"
        shutil.copyfile(migrated_template, path)
        url = f"sqlite+aiosqlite:///{path}"
    listener, base_url = bound_listener()
    app_settings = test_settings(
        url, public_base_url=base_url, telegram_bot_token=telegram_api_server.token,
        telegram_api_base_url=telegram_api_server.base_url,
        telegram_webhook_secret=TELEGRAM_SECRET, twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN, twilio_api_base_url=twilio_api_server.base_url,
        twilio_sms_from="+911234567890", twilio_whatsapp_from="whatsapp:+911234567890",
        hes_webhook_secret=HES_SECRET, razorpay_webhook_secret=WEBHOOK_SECRET)
    db = Database(url)
    runner.run(seed(db))
    app = create_app(app_settings, run_worker=False)
    with serve_live(app, listener):
        yield base_url, app_settings, db, runner
    runner.run(db.dispose())
    runner.close()


async def _truncate(url: str) -> None:
    database = Database(url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await database.dispose()


def _api_schema() -> Any:
    """The schema of the app as `live` configures it (every channel on), read at import:
    building the app opens nothing; the routes do not depend on the database or ports."""
    app_settings = test_settings(
        "sqlite+aiosqlite:///unused.db", telegram_bot_token="123:fuzz",
        telegram_webhook_secret=TELEGRAM_SECRET, twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN)
    document = create_app(app_settings, run_worker=False).openapi()
    _describe_webhook_bodies(document)
    return schemathesis.openapi.from_dict(document)

# --- the providers' body shapes --------------------------------------------------------------

_INT = {"type": "integer"}
_STR = {"type": "string"}


def _entity(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"entity": {
        "type": "object", "properties": properties}}}


RAZORPAY_EVENT = {
    "type": "object", "required": ["event", "payload"],
    "properties": {
        "event": {"enum": ["payment_link.paid", "payment.captured", "order.paid",
                           "payment.failed", "refund.processed", "payment.refunded",
                           "payment_link.expired", "subscription.charged"]},
        "payload": {"type": "object", "properties": {
            "payment": _entity({"id": _STR, "amount": {}, "currency": _STR,
                                "status": {"enum": ["captured", "failed", "refunded"]},
                                "captured": {}, "created_at": {}, "description": _STR,
                                "notes": {}}),
            "payment_link": _entity({"id": _STR, "reference_id": _STR, "status": _STR,
                                     "currency": _STR, "notes": {}}),
            "order": _entity({"id": _STR, "product_type": _STR, "product_id": _STR,
                              "receipt": _STR}),
            "refund": _entity({"id": _STR, "payment_id": _STR, "amount": {},
                               "currency": _STR, "created_at": {}}),
        }},
    },
}
HES_EVENT = {"type": "object", "required": ["type"], "properties": {
    "type": {"enum": ["command.result", "meter.event"]}, "command_id": _STR,
    "meter_id": _STR, "correlation_id": _STR, "status": _STR,
    "relay_state": _STR, "event": _STR, "at": _STR, "reason": _STR, "error": _STR}}
TELEGRAM_UPDATE = {"type": "object", "required": ["update_id"], "properties": {
    "update_id": _INT,
    "message": {"type": "object", "properties": {
        "message_id": _INT, "date": _INT, "text": _STR,
        "chat": {"type": "object", "properties": {"id": _INT, "type": {"const": "private"}}},
        "from": {"type": "object", "properties": {"id": _INT, "is_bot": {"const": False},
                                                  "first_name": _STR}}}},
    "callback_query": {"type": "object", "properties": {"id": _STR, "data": _STR}}}}
TWILIO_FORM = {"type": "object", "required": ["MessageSid", "From"], "properties": {
    "From": _STR, "To": _STR, "Body": _STR, "MessageSid": _STR, "WaId": _STR,
    "MessageStatus": _STR, "ErrorCode": _STR, "NumMedia": _STR}}


def _describe_webhook_bodies(document: dict[str, Any]) -> None:
    bodies = {"/webhooks/razorpay": ("application/json", RAZORPAY_EVENT),
              "/webhooks/hes": ("application/json", HES_EVENT),
              "/webhooks/telegram": ("application/json", TELEGRAM_UPDATE)}
    for path in document["paths"]:
        if path.startswith("/webhooks/twilio/"):
            bodies[path] = ("application/x-www-form-urlencoded", TWILIO_FORM)
    for path, (media_type, body) in bodies.items():
        operation = document["paths"].get(path, {}).get("post")
        if operation is not None and "requestBody" not in operation:
            operation["requestBody"] = {"content": {media_type: {"schema": body}}}


# --- sending, signed or not ---------------------------------------------------------------

def _encoded(kwargs: dict[str, Any]) -> tuple[bytes | None, dict[str, str] | None]:
    """The exact body bytes to send (signatures cover bytes), and the form if it is one."""
    if "json" in kwargs:
        return json.dumps(kwargs.pop("json")).encode(), None
    data = kwargs.pop("data", None)
    if isinstance(data, dict):
        form = {str(k): str(v) for k, v in data.items()}
        return urlencode(form).encode(), form
    if isinstance(data, str):
        return data.encode(), None
    return data, None


def _sign(path: str, body: bytes, form: dict[str, str] | None, headers: dict[str, str],
          base_url: str) -> None:
    if path == "/webhooks/razorpay":
        headers["X-Razorpay-Signature"] = razorpay_sign(body, WEBHOOK_SECRET)
        headers["x-razorpay-event-id"] = f"evtFuzz{abs(hash(body))}"
    elif path == "/webhooks/hes":
        headers[HES_HEADER] = hes_sign(body, HES_SECRET)
    elif path == "/webhooks/telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = TELEGRAM_SECRET
    elif path.startswith("/webhooks/twilio/"):
        headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(
            base_url + path, form or {})
    if path.startswith("/ops"):
        headers["Authorization"] = f"Bearer {OPS_TOKEN}"
        headers.setdefault("X-Operator", "fuzzer")


async def _row_counts(db: Database) -> dict[str, int]:
    async with db.uow() as uow:
        return {table.name: await uow.session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def _send(case: Any, live: tuple[str, Settings, Database, asyncio.Runner], signed: bool
          ) -> requests.Response:
    base_url, _, db, runner = live
    kwargs = case.as_transport_kwargs(base_url=base_url)
    body, form = _encoded(kwargs)
    headers = dict(kwargs.pop("headers", None) or {})
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if signed:
        _sign(case.path, body or b"", form, headers, base_url)
    before = runner.run(_row_counts(db))
    response = requests.request(
        kwargs.pop("method"), kwargs.pop("url"), params=kwargs.pop("params", None),
        headers=headers, data=body, cookies=kwargs.pop("cookies", None), timeout=30,
        allow_redirects=False)
    if 400 <= response.status_code < 500:
        assert runner.run(_row_counts(db)) == before, (
            f"{case.method} {case.path} answered {response.status_code} but wrote rows")
    return response


def _check(case: Any, response: requests.Response) -> None:
    assert response.status_code < 500, (
        f"{case.method} {case.path} answered {response.status_code}: {response.text[:300]}\n"
        f"{case.as_curl_command()}")


schema = _api_schema()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


checked = schema


@checked.parametrize()
@FUZZ
def test_no_unsigned_request_gets_a_5xx_or_writes_when_refused(case: Any, live: Any) -> None:
    _check(case, _send(case, live, signed=False))


@checked.parametrize()
@FUZZ
def test_no_signed_request_gets_a_5xx_or_writes_when_refused(case: Any, live: Any) -> None:
    _check(case, _send(case, live, signed=True))
