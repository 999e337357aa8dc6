"""The payment sandbox on HTTP: Razorpay's payment-link API and a checkout page.

`razorpay_sandbox_router(sandbox, deliverer)` carries absolute paths, the same whether it is
included in Bijli's app (the embedded default) or served alone by `razorpay_sandbox_app`
under uvicorn (the SDK tests, which need a real socket because the SDK uses `requests`):

    POST /sandbox/razorpay/v1/payment_links              create   (basic auth)
    GET  /sandbox/razorpay/v1/payment_links[?reference_id=…]      (basic auth)
    GET  /sandbox/razorpay/v1/payment_links/{id}         fetch    (basic auth)
    POST /sandbox/razorpay/v1/payment_links/{id}/cancel  cancel   (basic auth)
    GET  /sandbox/pay/{id}           the checkout page: a link's short_url
    POST /sandbox/pay/{id}           pay (form field `amount` in rupees when partial is allowed)
    POST /sandbox/pay/{id}/expire    let the link expire now (demo of payment_link.expired)

So `RAZORPAY_API_BASE_URL` is `{PUBLIC_BASE_URL}/sandbox/razorpay` (the SDK appends `/v1`).
API errors take Razorpay's shape `{"error": {"code": "BAD_REQUEST_ERROR", ...}}`, never
FastAPI's `detail`, because the SDK reads `error.code` to choose its exception. The checkout
page is plain HTML forms (no JavaScript); every value shown is escaped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute

from discom.clock import show_datetime
from discom.money import InvalidAmount, format_inr, rupees_to_paise
from discom.payments.sandbox import (
    CHECKOUT_PATH,
    MIN_AMOUNT,
    OPEN,
    DeliveryMode,
    DeliveryResult,
    PaymentSandbox,
    SandboxError,
    SandboxLink,
    WebhookDeliverer,
    WebhookEvent,
)

API_PREFIX = "/sandbox/razorpay"
MAX_BODY_BYTES = 64 * 1024
_STALL_STEP = 0.02


class _RazorpayErrors(APIRoute):
    """Answers a `SandboxError` (from a route or a dependency) in Razorpay's error shape."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SandboxError as exc:
                return JSONResponse(exc.body(), status_code=exc.status_code)

        return guarded


async def _stall(sandbox: PaymentSandbox) -> None:
    """Wait while `api_delay_seconds` says so; re-read each step, so setting it to 0 frees
    requests already waiting (a test's teardown must not hang on a stalled request)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Polling, not an asyncio.Event: the delay is changed from another thread (the test's),
    # which cannot set an event belonging to the server thread's loop.
    sandbox.stalled_requests += 1
    try:
        while loop.time() - started < sandbox.api_delay_seconds:  # noqa: ASYNC110
            await asyncio.sleep(_STALL_STEP)
    finally:
        sandbox.stalled_requests -= 1


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        key_id, sep, key_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (key_id, key_secret) if sep else None


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise SandboxError("The request body is too large", status_code=413)
    try:
        return json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SandboxError("The request body is not valid JSON") from exc


def _api_router(sandbox: PaymentSandbox, deliverer: WebhookDeliverer | None) -> APIRouter:
    async def authorised(request: Request) -> None:
        await _stall(sandbox)
        credentials = _basic_auth(request.headers.get("authorization"))
        if credentials is None:
            raise SandboxError("Please provide your api key for authentication purposes.",
                               status_code=401)
        if not sandbox.authenticate(*credentials):
            raise SandboxError("The api key provided is invalid", status_code=401)

    router = APIRouter(prefix=f"{API_PREFIX}/v1", route_class=_RazorpayErrors,
                       dependencies=[Depends(authorised)], tags=["sandbox"])

    @router.post("/payment_links")
    async def create_link(request: Request) -> dict[str, Any]:
        return sandbox.create_link(await _json_body(request))

    @router.get("/payment_links")
    async def list_links(reference_id: str | None = None) -> dict[str, Any]:
        return sandbox.list_links(reference_id)

    @router.get("/payment_links/{link_id}")
    async def fetch_link(link_id: str) -> dict[str, Any]:
        return sandbox.fetch_link(link_id)

    @router.post("/payment_links/{link_id}/cancel")
    async def cancel_link(link_id: str, background: BackgroundTasks) -> dict[str, Any]:
        entity, events = sandbox.cancel_link(link_id)
        if deliverer is not None:  # Razorpay's webhooks are asynchronous to the API call
            background.add_task(deliverer.deliver, events)
        return entity

    @router.post("/payments/{payment_id}/refund")
    async def refund_payment(payment_id: str, request: Request,
                             background: BackgroundTasks) -> dict[str, Any]:
        """Razorpay's `POST /v1/payments/{id}/refund`: `amount` (paise) or all that is left."""
        body = await _json_body(request) if await request.body() else {}
        amount = body.get("amount") if isinstance(body, dict) else None
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise SandboxError("The amount must be an integer.", field="amount")
        events = sandbox.refund(payment_id, amount)
        if deliverer is not None:
            background.add_task(deliverer.deliver, events)
        return events[0].json()["payload"]["refund"]["entity"]

    return router


# --- checkout pages -------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}"
    ".banner{background:#fff3cd;padding:.5rem;border-radius:.3rem}"
    "dt{color:#555}dd{margin:0 0 .6rem 0;font-weight:600}"
    "button{font-size:1.1rem;padding:.6rem 1.2rem}input{font-size:1.1rem;padding:.4rem}"
)


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    """A whole HTML page; `title` is escaped here, `body` must be built escaped."""
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        '<p class=banner>Razorpay sandbox — test mode, no real money moves.</p>'
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code)


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _link_facts(link: SandboxLink) -> str:
    rows = [("For", link.description or "—")]
    if link.customer.get("name"):
        rows.append(("Issued to", link.customer["name"]))
    if link.consumer_no:
        rows.append(("Consumer number", link.consumer_no))
    rows.append(("Amount", format_inr(link.amount)))
    if link.amount_paid:
        rows += [("Paid so far", format_inr(link.amount_paid)),
                 ("Amount due", format_inr(link.amount_due))]
    rows.append(("Status", link.status))
    if link.expire_by:
        expires = datetime.fromtimestamp(link.expire_by, UTC)
        rows.append(("Pay before", show_datetime(expires, "en") + " IST"))
    return _facts(rows)


def _delivery_options(mode: DeliveryMode | None) -> str:
    """Checkboxes that choose how this payment's webhooks go out (the robustness demo)."""
    if mode is None:
        return ""
    boxes = "".join(
        f"<label><input type=checkbox name={name} value=1{' checked' if on else ''}> "
        f"{escape(text)}</label><br>"
        for name, on, text in (("shuffle", mode.shuffle, "in a shuffled order"),
                               ("twice", mode.twice, "each one twice")))
    return ("<fieldset><legend>Send the webhooks</legend>"
            f"<input type=hidden name=delivery_options value=1>{boxes}</fieldset>")


def _pay_form(link: SandboxLink, mode: DeliveryMode | None) -> str:
    if link.status not in OPEN:
        return f"<p>This link is <b>{escape(link.status)}</b>; it cannot be paid.</p>"
    due = escape(format_inr(link.amount_due))
    amount_field = ""
    if link.accept_partial:
        minimum = link.first_min_partial_amount if not link.payments else MIN_AMOUNT
        amount_field = (
            f"<p><label>Amount to pay in ₹ (at least {escape(format_inr(minimum))}, "
            f"leave empty to pay {due})<br><input name=amount inputmode=decimal "
            f'autocomplete=off pattern="[0-9,]+(\\.[0-9]{{1,2}})?"></label></p>')
    expire_action = escape(f"{quote(link.id)}/expire")
    return (
        f'<form method=post action="">{amount_field}{_delivery_options(mode)}'
        f"<p><button type=submit>Pay {due}</button></p></form>"
        f'<form method=post action="{expire_action}"><p><button type=submit>'
        "Let this link expire now</button></p></form>"
    )


def _checkout_page(link: SandboxLink, mode: DeliveryMode | None, notice: str = "",
                   status_code: int = 200) -> HTMLResponse:
    notice_html = f"<p role=alert><b>{escape(notice)}</b></p>" if notice else ""
    return _page(f"Pay {format_inr(link.amount_due)}",
                 f"<h1>Pay your dues</h1>{notice_html}{_link_facts(link)}"
                 f"{_pay_form(link, mode)}", status_code)


def _deliveries(results: Sequence[DeliveryResult], configured: bool) -> str:
    if not configured:
        return "<p>No webhook endpoint is configured: no webhooks were sent.</p>"
    rows = "".join(
        f"<li>{escape(r.event)} ({escape(r.event_id)}): "
        f"{escape(str(r.status_code) if r.status_code is not None else 'no answer')}"
        f"{escape(' after ' + str(r.attempts) + ' attempts') if r.attempts > 1 else ''}"
        f"{escape(' — ' + r.error) if r.error else ''}</li>"
        for r in results)
    return f"<h2>Webhooks sent</h2><ul>{rows}</ul>"


def _receipt_page(link: SandboxLink, payment_id: str, amount: int, redirect: str | None,
                  deliveries: str) -> HTMLResponse:
    facts = _facts([("Payment id", payment_id), ("Amount paid", format_inr(amount)),
                    ("Link status", link.status)])
    onward = ""
    if redirect:
        onward += f'<p><a href="{escape(redirect)}">Return to the merchant</a></p>'
    if link.status == "partially_paid":
        onward += f'<p><a href="{escape(quote(link.id))}">Pay the rest</a></p>'
    return _page("Payment successful",
                 f"<h1>Payment successful</h1>{facts}{onward}{deliveries}")


def _checkout_router(sandbox: PaymentSandbox, deliverer: WebhookDeliverer | None) -> APIRouter:
    router = APIRouter(prefix=CHECKOUT_PATH, tags=["sandbox"])

    async def deliver(events: Sequence[WebhookEvent],
                      mode: DeliveryMode | None = None) -> list[DeliveryResult]:
        return await deliverer.deliver(events, mode) if deliverer and events else []

    async def current(link_id: str) -> SandboxLink | None:
        """The link, after expiring whatever is past its `expire_by` (and telling Bijli)."""
        await deliver(sandbox.expire_due())
        try:
            return sandbox.link(link_id)
        except SandboxError:
            return None

    def not_found() -> HTMLResponse:
        return _page("Not found", "<h1>No such payment link</h1>", 404)

    def page(link: SandboxLink, notice: str = "", status_code: int = 200) -> HTMLResponse:
        return _checkout_page(link, deliverer.mode if deliverer else None, notice, status_code)

    @router.get("/{link_id}", response_class=HTMLResponse)
    async def checkout(link_id: str) -> HTMLResponse:
        link = await current(link_id)
        return not_found() if link is None else page(link)

    @router.post("/{link_id}", response_class=HTMLResponse)
    async def pay(link_id: str, amount: Annotated[str | None, Form()] = None,
                  delivery_options: Annotated[str | None, Form()] = None,
                  shuffle: Annotated[str | None, Form()] = None,
                  twice: Annotated[str | None, Form()] = None) -> HTMLResponse:
        link = await current(link_id)
        if link is None:
            return not_found()
        try:
            paise = rupees_to_paise(amount) if amount and amount.strip() else None
            done = sandbox.pay(link_id, paise)
        except InvalidAmount:
            return page(link, "Enter an amount in rupees, like 1500 or 1500.50", 400)
        except SandboxError as exc:
            return page(link, exc.description, 400 if link.status in OPEN else 409)
        # The page's checkboxes choose this payment's delivery; a bare POST keeps the default.
        mode = DeliveryMode(bool(shuffle), bool(twice)) if delivery_options else None
        results = await deliver(done.events, mode)
        return _receipt_page(done.link, done.payment.id, done.payment.amount,
                             done.callback_redirect, _deliveries(results, deliverer is not None))

    @router.post("/{link_id}/expire", response_class=HTMLResponse)
    async def expire(link_id: str) -> HTMLResponse:
        link = await current(link_id)
        if link is None:
            return not_found()
        try:
            events = sandbox.expire(link_id)
        except SandboxError as exc:
            return page(link, exc.description, 409)
        results = await deliver(events)
        return _page("Link expired", f"<h1>Link expired</h1>{_link_facts(link)}"
                     f"{_deliveries(results, deliverer is not None)}")

    return router


# --- assembly -------------------------------------------------------------------------------

def razorpay_sandbox_router(sandbox: PaymentSandbox,
                            deliverer: WebhookDeliverer | None = None) -> APIRouter:
    """The emulated API and the checkout pages, at their absolute paths (module docstring).

    Without a `deliverer` payments still work but no webhook is sent — Bijli then learns
    of them only by fetching the link, which is worth testing too.
    """
    router = APIRouter()
    router.include_router(_api_router(sandbox, deliverer))
    router.include_router(_checkout_router(sandbox, deliverer))
    return router


def razorpay_sandbox_app(sandbox: PaymentSandbox,
                         deliverer: WebhookDeliverer | None = None) -> FastAPI:
    """The sandbox alone, e.g. under uvicorn on a free port for the SDK's `requests`."""
    app = FastAPI(title="Razorpay sandbox", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(razorpay_sandbox_router(sandbox, deliverer))
    return app
