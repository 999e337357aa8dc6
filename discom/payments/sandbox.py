"""The payment sandbox: the state of a fake Razorpay account, and its webhook delivery.

It emulates, at the wire level, the part of Razorpay Bijli uses — payment links, the
payment and order a checkout creates, and the webhooks that follow — so the embedded
default and the tests run the real SDK and the real webhook route with no Razorpay account.
It enforces what real Razorpay enforces that matters to Bijli (basic auth, unique
`reference_id`, amount ≥ ₹1, `expire_by` ≥ 15 min ahead, unknown fields refused, the link
status machine) and answers errors in Razorpay's shape. HTTP routes live in
`api/sandboxes/razorpay.py`; nothing here knows a web framework.

Webhook bodies copy the keys and nesting of Razorpay's documented samples
(`shared/reference/razorpay/`), including their quirks: inside `payment_link.paid` the order
entity carries ids without their `order_`/`acc_`/`plink_` prefixes, and the payment's
description is `#` + the link id without `plink_`. Bodies are serialised the way PHP's
`json_encode` does it (`/` as `\\/`, non-ASCII as `\\uXXXX`): a receiver that parses and
re-serialises the JSON before checking the signature then fails here, as it would against
Razorpay, whose exact bytes it cannot reproduce either. Event ids are 14 base62 characters.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import string
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from discom.clock import utcnow
from discom.payments.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

CHECKOUT_PATH = "/sandbox/pay"  # a link's short_url is {public_base_url}{CHECKOUT_PATH}/{id}
WEBHOOK_PATH = "/webhooks/razorpay"
SANDBOX_KEY_ID = "rzp_test_sandbox0000000"
SANDBOX_KEY_SECRET = "sandbox-key-secret"  # noqa: S105 - a placeholder, as in settings

MIN_AMOUNT = 100  # paise: Razorpay refuses links below ₹1
MIN_EXPIRY = timedelta(minutes=15)
MAX_EXPIRY = timedelta(days=183)
MAX_REFERENCE_ID = 40
MAX_DESCRIPTION = 2048
MAX_NOTES, MAX_NOTE_CHARS = 15, 256
CREATE_FIELDS = frozenset({
    "amount", "currency", "accept_partial", "first_min_partial_amount", "description",
    "customer", "notify", "reminder_enable", "notes", "callback_url", "callback_method",
    "reference_id", "expire_by", "upi_link", "options",
})
EVENT_LOG_SIZE = 1000
OPEN = ("created", "partially_paid")  # the statuses in which a link can still be paid
_BASE62 = string.digits + string.ascii_letters


class Random(Protocol):
    """The part of `random.Random` the sandbox uses (ids, shuffled delivery)."""

    def choice(self, seq: Sequence[str]) -> str: ...

    def shuffle(self, x: list[Any]) -> None: ...


class SandboxError(Exception):
    """A request real Razorpay would refuse, with the status and body it would answer."""

    def __init__(self, description: str, *, status_code: int = 400, field: str | None = None,
                 code: str = "BAD_REQUEST_ERROR") -> None:
        super().__init__(description)
        self.description, self.status_code, self.field, self.code = (
            description, status_code, field, code)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code, "description": self.description, "source": "NA",
            "step": "NA", "reason": "NA", "metadata": {}}
        if self.field:
            error["field"] = self.field
        return {"error": error}


@dataclass
class SandboxPayment:
    id: str
    amount: int
    created_at: int
    contact: str
    vpa: str = "success@razorpay"
    rrn: str = ""
    method: str = "upi"
    status: str = "captured"  # refunded once refunds add up to the amount
    amount_refunded: int = 0

    @property
    def refund_status(self) -> str | None:
        if not self.amount_refunded:
            return None
        return "full" if self.amount_refunded >= self.amount else "partial"


@dataclass
class SandboxOrder:
    id: str  # order_…
    amount: int
    created_at: int
    updated_at: int
    amount_paid: int = 0
    attempts: int = 0


@dataclass
class SandboxLink:
    id: str  # plink_…
    amount: int
    currency: str
    accept_partial: bool
    first_min_partial_amount: int
    description: str
    customer: dict[str, str]
    notify: dict[str, bool]
    reminder_enable: bool
    notes: dict[str, str]
    reference_id: str
    expire_by: int  # Unix seconds; 0 = no expiry set
    callback_url: str | None
    callback_method: str | None
    created_at: int
    short_url: str
    status: str = "created"
    amount_paid: int = 0
    cancelled_at: int = 0
    expired_at: int = 0
    updated_at: int = 0
    order: SandboxOrder | None = None
    payments: list[SandboxPayment] = field(default_factory=list)

    @property
    def amount_due(self) -> int:
        return self.amount - self.amount_paid

    @property
    def consumer_no(self) -> str | None:
        return self.notes.get("consumer_no")


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One webhook as Razorpay would send it: its event id and its exact body bytes."""

    id: str
    event: str
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Checkout:
    """What a simulated checkout produced."""

    link: SandboxLink
    payment: SandboxPayment
    events: list[WebhookEvent]
    callback_redirect: str | None  # where Razorpay would send the payer's browser next


def _strip(prefixed_id: str) -> str:
    """plink_X / order_X / acc_X → X: the internal form some Razorpay entities show."""
    return prefixed_id.split("_", 1)[-1]


def _php_json(document: dict[str, Any]) -> bytes:
    """Compact JSON with `\\/` and `\\uXXXX` escapes, like PHP's json_encode."""
    return json.dumps(document, separators=(",", ":")).replace("/", "\\/").encode("ascii")


# --- entities -------------------------------------------------------------------------------

def link_entity(link: SandboxLink, *, for_webhook: bool = False) -> dict[str, Any]:
    """The payment-link entity: API responses list `payments`, webhooks do not."""
    entity: dict[str, Any] = {
        "accept_partial": link.accept_partial, "amount": link.amount,
        "amount_paid": link.amount_paid, "cancelled_at": link.cancelled_at,
        "created_at": link.created_at, "currency": link.currency,
        "customer": dict(link.customer) or [], "description": link.description,
        "expire_by": link.expire_by, "expired_at": link.expired_at,
        "first_min_partial_amount": link.first_min_partial_amount, "id": link.id,
        "notes": dict(link.notes) or None, "notify": dict(link.notify),
        "reference_id": link.reference_id, "reminder_enable": link.reminder_enable,
        "reminders": {"status": "failed"} if for_webhook else [],
        "short_url": link.short_url, "status": link.status, "updated_at": link.updated_at,
        "upi_link": False, "user_id": "", "whatsapp_link": False,
    }
    if link.callback_url:
        entity |= {"callback_url": link.callback_url, "callback_method": link.callback_method}
    if link.order is not None:
        entity["order_id"] = link.order.id
    if not for_webhook:
        entity["payments"] = [
            {"amount": p.amount, "created_at": p.created_at, "method": p.method,
             "payment_id": p.id, "status": p.status}
            for p in link.payments
        ] or None
    return entity


def order_entity(order: SandboxOrder, link: SandboxLink, *, account_id: str, key_id: str,
                 internal_ids: bool) -> dict[str, Any]:
    """The order a link payment creates; `internal_ids` as inside `payment_link.paid`."""
    paid = order.amount_paid >= order.amount
    null_fields = ("account_number", "bank", "bank_account", "checkout_config_id",
                   "customer_id", "late_auth_config_id", "method", "payer_name",
                   "provider_context", "public_response", "source", "transfers",
                   *(f"reference{n}" for n in range(2, 9)))
    return dict.fromkeys(null_fields) | {
        "amount": order.amount, "amount_due": order.amount - order.amount_paid,
        "amount_paid": order.amount_paid, "app_offer": False, "attempts": order.attempts,
        "authorized": True, "created_at": order.created_at, "currency": link.currency,
        "discount": False, "first_payment_min_amount": link.first_min_partial_amount or None,
        "force_offer": None, "id": _strip(order.id) if internal_ids else order.id,
        "merchant_id": _strip(account_id), "notes": [], "offers": {}, "order_metas": [],
        "order_relationships": [], "partial_payment": link.accept_partial,
        "payment_capture": True, "product_id": _strip(link.id),
        "product_type": "payment_link_v2", "public_key": key_id,
        "receipt": link.reference_id, "status": "paid" if paid else "attempted",
        "updated_at": order.updated_at,
    }


def payment_entity(payment: SandboxPayment, order: SandboxOrder,
                   link: SandboxLink) -> dict[str, Any]:
    """A captured UPI payment; fee 2% + 18% GST on the fee, as on a standard plan."""
    base_fee = payment.amount * 2 // 100
    tax = (base_fee * 18 + 50) // 100
    null_fields = ("bank", "card", "card_id", "email", "error_code", "error_description",
                   "error_reason", "error_source", "error_step", "invoice_id", "wallet")
    return dict.fromkeys(null_fields) | {
        "acquirer_data": {"rrn": payment.rrn}, "amount": payment.amount,
        "amount_refunded": payment.amount_refunded, "amount_transferred": 0,
        "base_amount": payment.amount, "captured": payment.status in ("captured", "refunded"),
        "contact": payment.contact, "refund_status": payment.refund_status,
        "created_at": payment.created_at, "currency": link.currency,
        "description": f"#{_strip(link.id)}", "entity": "payment", "fee": base_fee + tax,
        "fee_bearer": "platform", "id": payment.id, "international": False,
        "method": payment.method, "notes": [], "order_id": order.id,
        "status": payment.status, "tax": tax,
        "upi": {"payer_account_type": "bank_account", "vpa": payment.vpa},
        "vpa": payment.vpa,
    }


# --- validation of POST /v1/payment_links ---------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SandboxError("The request body must be a JSON object")
    extra = sorted(set(body) - CREATE_FIELDS)
    if extra:
        raise SandboxError(f"{', '.join(extra)} is/are not required and should not be sent",
                           field=extra[0])
    if body.get("upi_link"):
        raise SandboxError("UPI Payment Links is not supported in Test Mode", field="upi_link")
    return body


def _amount(body: dict[str, Any]) -> int:
    amount = body.get("amount")
    if not _is_int(amount):
        raise SandboxError("The amount field is required and must be an integer.", field="amount")
    if amount < MIN_AMOUNT:
        raise SandboxError("The amount must be atleast INR 1.00", field="amount")
    if body.get("currency", "INR") != "INR":
        raise SandboxError("Currency is not supported", field="currency")
    return amount


def _first_min_partial(body: dict[str, Any], amount: int) -> int:
    if not body.get("accept_partial"):
        return 0
    minimum = body.get("first_min_partial_amount", MIN_AMOUNT)
    if not _is_int(minimum) or not MIN_AMOUNT <= minimum <= amount:
        raise SandboxError("first_min_partial_amount must be between INR 1.00 and the amount",
                           field="first_min_partial_amount")
    return minimum


def _expire_by(body: dict[str, Any], now: datetime) -> int:
    expire_by = body.get("expire_by", 0)
    if not _is_int(expire_by):
        raise SandboxError("expire_by must be an integer", field="expire_by")
    if expire_by and expire_by < (now + MIN_EXPIRY).timestamp():
        raise SandboxError("expire_by should be at least 15 minutes after current time",
                           field="expire_by")
    if expire_by and expire_by > (now + MAX_EXPIRY).timestamp():
        raise SandboxError("expire_by cannot be more than 6 months in the future",
                           field="expire_by")
    return expire_by


def _notes(body: dict[str, Any]) -> dict[str, str]:
    notes = body.get("notes") or {}
    if not isinstance(notes, dict) or len(notes) > MAX_NOTES:
        raise SandboxError(f"notes must be an object of at most {MAX_NOTES} keys", field="notes")
    for key, value in notes.items():
        if not isinstance(value, str | int | float) or len(str(value)) > MAX_NOTE_CHARS:
            raise SandboxError(f"notes.{key} must be at most {MAX_NOTE_CHARS} characters",
                               field="notes")
    return {str(k): str(v) for k, v in notes.items()}


def _customer(body: dict[str, Any]) -> dict[str, str]:
    customer = body.get("customer") or {}
    if not isinstance(customer, dict) or set(customer) - {"name", "contact", "email"}:
        raise SandboxError("customer may only have name, contact and email", field="customer")
    return {k: str(v) for k, v in customer.items() if v is not None}


def _notify(body: dict[str, Any]) -> dict[str, bool]:
    notify = body.get("notify") or {}
    if not isinstance(notify, dict) or set(notify) - {"sms", "email", "whatsapp"}:
        raise SandboxError("notify may only have sms, email and whatsapp", field="notify")
    return {"email": False, "sms": False, "whatsapp": False} | {
        k: bool(v) for k, v in notify.items()}


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name) or ""
    if not isinstance(value, str) or len(value) > limit:
        raise SandboxError(f"The {name.replace('_', ' ')} may not be greater than "
                           f"{limit} characters.", field=name)
    return value


def _callback(body: dict[str, Any]) -> tuple[str | None, str | None]:
    url, method = body.get("callback_url"), body.get("callback_method")
    if url is None:
        return None, None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise SandboxError("The callback url format is invalid.", field="callback_url")
    if method != "get":
        raise SandboxError("callback_method must be get when callback_url is sent",
                           field="callback_method")
    return url, method


# --- the account ----------------------------------------------------------------------------

class PaymentSandbox:
    """One fake Razorpay account: its links, orders, payments, and the events they cause.

    Thread-safe: under uvicorn in a test the API runs on the server's thread while the test
    pays or expires links from its own. Times are Unix seconds from the injected clock.
    """

    def __init__(self, *, public_base_url: str, key_id: str = SANDBOX_KEY_ID,
                 key_secret: str = SANDBOX_KEY_SECRET,
                 clock: Callable[[], datetime] = utcnow, rng: Random | None = None) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self.key_id, self._key_secret = key_id, key_secret
        self._clock = clock
        self._rng: Random = rng or secrets.SystemRandom()
        self.account_id = self._new_id("acc_")
        self.api_delay_seconds = 0.0  # the API routes stall this long: a slow Razorpay
        self.stalled_requests = 0  # API requests being held by that delay right now
        # The latest events emitted, like the dashboard's webhook log (bounded: the embedded
        # default runs for weeks).
        self.events: deque[WebhookEvent] = deque(maxlen=EVENT_LOG_SIZE)
        self._links: dict[str, SandboxLink] = {}
        self._references: dict[str, str] = {}
        self._lock = threading.RLock()

    def _new_id(self, prefix: str = "") -> str:
        return prefix + "".join(self._rng.choice(_BASE62) for _ in range(14))

    def _now(self) -> int:
        return int(self._clock().timestamp())

    def authenticate(self, key_id: str, key_secret: str) -> bool:
        """HTTP basic auth of the API: the key id and the key secret, compared in constant time."""
        id_matches = hmac.compare_digest(key_id.encode(), self.key_id.encode())
        secret_matches = hmac.compare_digest(key_secret.encode(), self._key_secret.encode())
        return id_matches and secret_matches

    def link(self, link_id: str) -> SandboxLink:
        found = self._links.get(link_id)
        if found is None:
            raise SandboxError("The id provided does not exist", field="id")
        return found

    def create_link(self, body: Any) -> dict[str, Any]:
        """`POST /v1/payment_links`: validate like Razorpay, answer the new link entity."""
        body = _check_fields(body)
        with self._lock:
            now = self._clock()
            amount = _amount(body)
            reference_id = _text(body, "reference_id", MAX_REFERENCE_ID)
            if reference_id and reference_id in self._references:
                raise SandboxError(
                    f"Payment Link with reference id {reference_id} already exists",
                    field="reference_id")
            callback_url, callback_method = _callback(body)
            link_id = self._new_id("plink_")
            link = SandboxLink(
                id=link_id, amount=amount, currency="INR",
                accept_partial=bool(body.get("accept_partial")),
                first_min_partial_amount=_first_min_partial(body, amount),
                description=_text(body, "description", MAX_DESCRIPTION),
                customer=_customer(body),
                notify=_notify(body),
                reminder_enable=bool(body.get("reminder_enable")), notes=_notes(body),
                reference_id=reference_id, expire_by=_expire_by(body, now),
                callback_url=callback_url, callback_method=callback_method,
                created_at=int(now.timestamp()), updated_at=int(now.timestamp()),
                short_url=f"{self.public_base_url}{CHECKOUT_PATH}/{link_id}")
            self._links[link_id] = link
            if reference_id:
                self._references[reference_id] = link_id
            return link_entity(link)

    def fetch_link(self, link_id: str) -> dict[str, Any]:
        with self._lock:
            return link_entity(self.link(link_id))

    def list_links(self, reference_id: str | None = None) -> dict[str, Any]:
        """`GET /v1/payment_links[?reference_id=…]`."""
        with self._lock:
            links = [link for link in self._links.values()
                     if reference_id is None or link.reference_id == reference_id]
            return {"payment_links": [link_entity(link) for link in reversed(links)]}

    def cancel_link(self, link_id: str) -> tuple[dict[str, Any], list[WebhookEvent]]:
        """`POST /v1/payment_links/{id}/cancel`: only a link not yet paid/expired/cancelled."""
        with self._lock:
            link = self.link(link_id)
            if link.status not in OPEN:
                raise SandboxError(f"Payment Link cannot be cancelled as it is {link.status}")
            link.status = "cancelled"
            link.cancelled_at = link.updated_at = self._now()
            events = [self._link_event("payment_link.cancelled", link)]
            return link_entity(link), events

    def pay(self, link_id: str, amount_paise: int | None = None) -> Checkout:
        """Simulate a customer paying on the checkout page (UPI, captured at once).

        Without `amount_paise` the whole amount due is paid. A partial amount needs a link
        created with `accept_partial`, and the first one at least `first_min_partial_amount`.
        """
        with self._lock:
            link = self.link(link_id)
            amount = self._payable(link, amount_paise)
            now = self._now()
            order = link.order or SandboxOrder(
                id=self._new_id("order_"), amount=link.amount, created_at=now, updated_at=now)
            link.order = order
            payment = SandboxPayment(
                id=self._new_id("pay_"), amount=amount, created_at=now,
                contact=link.customer.get("contact", "+919876543210"),
                rrn="".join(self._rng.choice(string.digits) for _ in range(12)))
            link.payments.append(payment)
            link.amount_paid += amount
            link.status = "paid" if link.amount_due == 0 else "partially_paid"
            link.updated_at = order.updated_at = now
            order.amount_paid += amount
            order.attempts += 1
            return Checkout(link, payment, self._payment_events(link, order, payment),
                            self.callback_redirect(link, payment))

    def _payable(self, link: SandboxLink, amount_paise: int | None) -> int:
        if link.status not in OPEN:
            raise SandboxError(f"This payment link is {link.status}", field="payment_link")
        if link.expire_by and self._now() >= link.expire_by:
            raise SandboxError("This payment link has expired", field="payment_link")
        if amount_paise is None or amount_paise == link.amount_due:
            return link.amount_due
        if not link.accept_partial:
            raise SandboxError("Partial payments are not allowed on this link", field="amount")
        minimum = link.first_min_partial_amount if not link.payments else MIN_AMOUNT
        if not minimum <= amount_paise <= link.amount_due:
            raise SandboxError("The amount must be between the minimum and the amount due",
                               field="amount")
        return amount_paise

    def expire(self, link_id: str) -> list[WebhookEvent]:
        """Expire an open link now (as Razorpay does at `expire_by`)."""
        with self._lock:
            link = self.link(link_id)
            if link.status not in OPEN:
                raise SandboxError(f"This payment link is {link.status}", field="payment_link")
            link.status = "expired"
            link.expired_at = link.updated_at = self._now()
            return [self._link_event("payment_link.expired", link)]

    def expire_due(self) -> list[WebhookEvent]:
        """Expire every open link whose `expire_by` has passed; their events, in order."""
        with self._lock:
            now = self._now()
            due = [link.id for link in self._links.values()
                   if link.status in OPEN and link.expire_by and link.expire_by <= now]
            return [event for link_id in due for event in self.expire(link_id)]

    def refund(self, payment_id: str, amount_paise: int | None = None) -> list[WebhookEvent]:
        """Refund a captured payment (as the dashboard's "Issue refund" does), processed at
        once: `refund.processed` and `payment.refunded`, one refund entity under two event ids.
        Without `amount_paise` what is left of the payment is refunded."""
        with self._lock:
            link, payment = self._payment(payment_id)
            left = payment.amount - payment.amount_refunded
            amount = left if amount_paise is None else amount_paise
            if payment.status not in ("captured", "refunded") or not 0 < amount <= left:
                raise SandboxError("The refund amount provided is greater than amount captured",
                                   field="amount")
            payment.amount_refunded += amount
            if payment.amount_refunded == payment.amount:
                payment.status = "refunded"
            assert link.order is not None
            refund = {
                "id": self._new_id("rfnd_"), "entity": "refund", "amount": amount,
                "currency": link.currency, "payment_id": payment.id, "notes": [],
                "receipt": None, "acquirer_data": {"rrn": payment.rrn},
                "created_at": self._now(), "batch_id": None, "status": "processed",
                "speed_processed": "normal", "speed_requested": "normal"}
            paid = payment_entity(payment, link.order, link)
            return [self._event(name, {"refund": refund, "payment": paid})
                    for name in ("refund.processed", "payment.refunded")]

    def _payment(self, payment_id: str) -> tuple[SandboxLink, SandboxPayment]:
        for link in self._links.values():
            for payment in link.payments:
                if payment.id == payment_id:
                    return link, payment
        raise SandboxError("The id provided does not exist", field="payment_id")

    def callback_redirect(self, link: SandboxLink, payment: SandboxPayment) -> str | None:
        """The `callback_url` with Razorpay's signed query parameters, or None without one.

        `razorpay_signature` = hex HMAC-SHA256 of "link_id|reference_id|status|payment_id"
        keyed by the API key secret (what the SDK's `verify_payment_link_signature` checks).
        """
        if not link.callback_url:
            return None
        message = f"{link.id}|{link.reference_id}|{link.status}|{payment.id}"
        params = {
            "razorpay_payment_id": payment.id, "razorpay_payment_link_id": link.id,
            "razorpay_payment_link_reference_id": link.reference_id,
            "razorpay_payment_link_status": link.status,
            "razorpay_signature": sign(message.encode(), self._key_secret),
        }
        separator = "&" if "?" in link.callback_url else "?"
        return f"{link.callback_url}{separator}{urlencode(params)}"

    # --- events ---------------------------------------------------------------------------

    def _event(self, event: str, entities: dict[str, dict[str, Any]]) -> WebhookEvent:
        document = {
            "account_id": self.account_id, "contains": list(entities),
            "created_at": self._now(), "entity": "event", "event": event,
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
        }
        emitted = WebhookEvent(id=self._new_id(), event=event, body=_php_json(document))
        self.events.append(emitted)
        return emitted

    def _link_event(self, event: str, link: SandboxLink) -> WebhookEvent:
        return self._event(event, {"payment_link": link_entity(link, for_webhook=True)})

    def _payment_events(self, link: SandboxLink, order: SandboxOrder,
                        payment: SandboxPayment) -> list[WebhookEvent]:
        """One payment's events, each with its own event id: `payment.captured`,
        `order.paid` once the order is fully paid, and `payment_link.(partially_)paid`."""
        paid = payment_entity(payment, order, link)
        ids = {"account_id": self.account_id, "key_id": self.key_id}
        events = [self._event("payment.captured", {"payment": paid})]
        if link.status == "paid":
            events.append(self._event("order.paid", {
                "payment": paid, "order": order_entity(order, link, **ids, internal_ids=False)}))
        events.append(self._event(f"payment_link.{link.status}", {
            "payment_link": link_entity(link, for_webhook=True),
            "order": order_entity(order, link, **ids, internal_ids=True),
            "payment": paid,
        }))
        return events


# --- delivery -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one delivery of one event went; kept so a failed delivery stays visible."""

    event_id: str
    event: str
    status_code: int | None  # the last answer; None when no answer came at all
    attempts: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class DeliveryMode:
    """Razorpay's delivery guarantees, made visible: at least once, in any order."""

    shuffle: bool = False  # deliver the events of one batch in a random order
    twice: bool = False  # deliver every event a second time (same id, same bytes)


class WebhookDeliverer:
    """The account's webhook endpoint: signs each event's raw body and POSTs it.

    The `httpx.AsyncClient` is injected so the embedded default and the tests can route it
    in-process (`httpx.ASGITransport`). The signature is computed at delivery time, as
    Razorpay does for dashboard replays. A non-2xx answer or a network error is retried
    `attempts` times with doubling backoff; Razorpay counts an answer slower than 5 s as
    failed, hence the default timeout.
    """

    def __init__(self, client: httpx.AsyncClient, url: str, secret: str, *,
                 mode: DeliveryMode | None = None, attempts: int = 3,
                 backoff_seconds: float = 0.5, timeout_seconds: float = 5.0,
                 rng: Random | None = None) -> None:
        self.client, self.url, self._secret = client, url, secret
        self.mode = mode or DeliveryMode()
        self.attempts, self.backoff_seconds = max(1, attempts), backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._rng: Random = rng or secrets.SystemRandom()

    def schedule(self, events: Sequence[WebhookEvent],
                 mode: DeliveryMode | None = None) -> list[WebhookEvent]:
        """The order in which `events` will be sent under `mode` (default: `self.mode`)."""
        mode = mode or self.mode
        planned = list(events) * (2 if mode.twice else 1)
        if mode.shuffle:
            self._rng.shuffle(planned)
        return planned

    async def deliver(self, events: Sequence[WebhookEvent],
                      mode: DeliveryMode | None = None) -> list[DeliveryResult]:
        """Send `events` one after the other; one result per delivery, in sending order."""
        return [await self._send(event) for event in self.schedule(events, mode)]

    async def _send(self, event: WebhookEvent) -> DeliveryResult:
        headers = {
            SIGNATURE_HEADER: sign(event.body, self._secret), EVENT_ID_HEADER: event.id,
            "Content-Type": "application/json", "User-Agent": "Razorpay-Webhook/v1",
        }
        status, error = None, None
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.client.post(
                    self.url, content=event.body, headers=headers, timeout=self.timeout_seconds)
                status, error = response.status_code, None
                if 200 <= status < 300:
                    return DeliveryResult(event.id, event.event, status, attempt)
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        return DeliveryResult(event.id, event.event, status, self.attempts, error)
