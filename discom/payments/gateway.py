"""The Razorpay gateway: payment links through the official `razorpay` SDK. Framework-free.

The SDK (razorpay 2.0.x) is synchronous `requests` code with no default timeout, so every
call runs in a worker thread (`asyncio.to_thread`) and passes `timeout=` explicitly — the
SDK forwards keyword arguments of `payment_link.create/fetch/cancel/all` down to
`requests.Session.<method>`. Its errors carry only Razorpay's description string, typed by
the `error.code` of the body (`BAD_REQUEST_ERROR`, `GATEWAY_ERROR`, `SERVER_ERROR`; anything
else becomes `ServerError`), never the HTTP status. They are mapped here to two exceptions
callers can act on: try again later, or do not retry this request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import razorpay
import razorpay.client
import requests
import structlog
from razorpay.errors import BadRequestError, GatewayError, ServerError

MAX_REFERENCE_ID = 40
MAX_NOTE_CHARS = 256
MIN_LINK_AMOUNT = 100  # paise: Razorpay refuses payment links below ₹1

log = structlog.get_logger(__name__)


def _sdk_print(*values: Any, **_ignored: Any) -> None:
    # info: Bijli reports the failure itself (GatewayUnavailable); this is the SDK's detail.
    log.info("razorpay.sdk_said", text=" ".join(str(value) for value in values))


# The SDK `print`s its network failures ("Connection failed.") to stdout, which in `bijli chat`
# is the consumer's conversation. A module-level `print` shadows the builtin for the SDK's
# client module only, from every thread, so its words go to the log instead.
razorpay.client.print = _sdk_print  # type: ignore[attr-defined]


class GatewayUnavailable(Exception):
    """Razorpay could not be reached or failed (network, timeout, 5xx): try again in a minute.

    After a timeout the request may still have been executed; a retried `create_link` with
    the same reference id is then refused as a duplicate — `find_link` recovers that link.
    """


class GatewayRejected(Exception):
    """Razorpay refused the request (4xx: invalid field, duplicate reference id, bad keys).

    Repeating the same request gets the same answer, so it is not retried.
    """


@dataclass(frozen=True, slots=True)
class LinkPayment:
    """One payment made on a link, as `GET /v1/payment_links/{id}` lists it."""

    id: str
    amount_paise: int
    created_at: datetime
    method: str | None
    status: str  # captured, failed, ...


@dataclass(frozen=True, slots=True)
class PaymentLink:
    """What Bijli needs to know of a Razorpay payment link."""

    id: str
    reference_id: str
    amount_paise: int
    amount_paid_paise: int
    status: str  # created, partially_paid, paid, expired, cancelled
    short_url: str
    expire_by: datetime | None
    payments: tuple[LinkPayment, ...] = ()
    order_id: str | None = None  # set once someone has started paying


def _timestamp(value: Any) -> datetime | None:
    """Razorpay times are Unix seconds; 0 or null means "not set"."""
    return datetime.fromtimestamp(int(value), UTC) if value else None


def parse_link(entity: dict[str, Any]) -> PaymentLink:
    """A payment-link entity (API response) as a `PaymentLink`; `payments` may be null."""
    payments = tuple(
        LinkPayment(
            id=str(item["payment_id"]),
            amount_paise=int(item["amount"]),
            created_at=_timestamp(item.get("created_at")) or datetime.fromtimestamp(0, UTC),
            method=item.get("method"),
            status=str(item.get("status")),
        )
        for item in entity.get("payments") or ()
    )
    return PaymentLink(
        id=str(entity["id"]),
        reference_id=str(entity.get("reference_id") or ""),
        amount_paise=int(entity["amount"]),
        amount_paid_paise=int(entity.get("amount_paid") or 0),
        status=str(entity["status"]),
        short_url=str(entity["short_url"]),
        expire_by=_timestamp(entity.get("expire_by")),
        payments=payments,
        order_id=entity.get("order_id") or None,
    )


def _parsed(entity: Any) -> PaymentLink:
    """`parse_link` for an answer from the wire: a body that is not a link entity (a proxy's
    JSON, a truncated answer) is a failure of the other side, not of the request."""
    try:
        return parse_link(entity)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GatewayUnavailable("Razorpay answered something that is not a payment link") from exc


def link_request(
    *, amount_paise: int, reference_id: str, description: str, customer_name: str | None,
    customer_contact: str | None, consumer_no: str, expire_by: datetime, callback_url: str,
    accept_partial: bool = False,
) -> dict[str, Any]:
    """The body of `POST /v1/payment_links`. Without `customer_name` the link names no
    customer (Razorpay shows "Issued to <name>" on the checkout page to whoever opens it).

    Razorpay's own SMS/e-mail and reminders are off: Bijli tells the consumer itself, in the
    consumer's language and channel. `consumer_no` goes into `notes` so a payment can be
    traced to an account from the dashboard and from any webhook that carries the link.
    """
    if len(reference_id) > MAX_REFERENCE_ID:
        raise ValueError(f"reference_id is limited to {MAX_REFERENCE_ID} characters")
    if expire_by.tzinfo is None:
        raise ValueError("expire_by must be timezone-aware")
    customer: dict[str, str] = {}
    if customer_name:
        customer["name"] = customer_name
        if customer_contact:
            customer["contact"] = customer_contact
    body: dict[str, Any] = {
        "amount": amount_paise,
        "currency": "INR",
        "accept_partial": accept_partial,
        "description": description,
        "customer": customer,
        "notify": {"sms": False, "email": False},
        "reminder_enable": False,
        "notes": {"consumer_no": consumer_no[:MAX_NOTE_CHARS]},
        "reference_id": reference_id,
        "expire_by": int(expire_by.timestamp()),
        "callback_url": callback_url,
        "callback_method": "get",
    }
    if not customer:
        del body["customer"]
    return body


class RazorpayGateway:
    """Payment links on one Razorpay account (or on the sandbox, through `base_url`).

    One SDK client, hence one `requests.Session`, serves all worker threads: the calls are
    stateless basic-auth requests, so only the thread-safe connection pool is shared.
    """

    def __init__(self, key_id: str, key_secret: str, base_url: str | None = None,
                 timeout: float = 10.0) -> None:
        options = {"base_url": base_url.rstrip("/")} if base_url else {}
        # Retries stay off (the SDK default): they would sleep inside the worker thread, and
        # retrying is the caller's decision (the outbox/worker owns backoff).
        self._client = razorpay.Client(auth=(key_id, key_secret), **options)
        self._timeout = timeout

    async def create_link(
        self, *, amount_paise: int, reference_id: str, description: str,
        customer_name: str | None, customer_contact: str | None, consumer_no: str,
        expire_by: datetime, callback_url: str, accept_partial: bool = False,
    ) -> PaymentLink:
        """A new link for `amount_paise`; `reference_id` (≤ 40 chars) is Bijli's idempotency
        key. A `ValueError` means a bug in the caller (naive `expire_by`, long reference)."""
        body = link_request(
            amount_paise=amount_paise, reference_id=reference_id, description=description,
            customer_name=customer_name, customer_contact=customer_contact,
            consumer_no=consumer_no, expire_by=expire_by, callback_url=callback_url,
            accept_partial=accept_partial)
        return _parsed(await self._call(self._client.payment_link.create, body))

    async def fetch_link(self, link_id: str) -> PaymentLink:
        return _parsed(await self._call(self._client.payment_link.fetch, link_id))

    async def find_link(self, reference_id: str) -> PaymentLink | None:
        """The link created with `reference_id`, if any.

        Recovers a create whose response was lost to a timeout: the retry is refused as a
        duplicate reference id, and this finds the link the first attempt made.
        """
        answer = await self._call(self._client.payment_link.all, {"reference_id": reference_id})
        matching = [entity for entity in answer.get("payment_links") or ()
                    if entity.get("reference_id") == reference_id]
        return _parsed(matching[0]) if matching else None

    async def cancel_link(self, link_id: str) -> PaymentLink:
        return _parsed(await self._call(self._client.payment_link.cancel, link_id))

    def close(self) -> None:
        self._client.session.close()

    async def _call(self, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
        """Run one blocking SDK call in a thread and translate its failures."""
        try:
            answer = await asyncio.to_thread(method, *args, timeout=self._timeout)
        except BadRequestError as exc:
            raise GatewayRejected(str(exc) or "rejected by Razorpay") from exc
        except (ServerError, GatewayError) as exc:  # GATEWAY_ERROR: a bank/partner failed
            raise GatewayUnavailable(str(exc) or "Razorpay server error") from exc
        except requests.RequestException as exc:
            # Connection refused/reset, timeouts, and a body that is not JSON (a proxy's
            # 502 page): all transient from Bijli's point of view.
            raise GatewayUnavailable(f"Razorpay unreachable: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise GatewayUnavailable("unexpected answer from Razorpay")
        return answer
