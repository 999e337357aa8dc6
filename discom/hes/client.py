"""The HES connector: Bijli's side of the head-end contract (ARCHITECTURE.md), over httpx.

Framework-free on purpose: the worker, the webhook route and the tests all use it, and it
must run against a real head-end, the simulator over HTTP, or an ASGI transport alike.

Errors are sorted by what the caller should *do*, not by HTTP code:
- `HesRejected` — the HES refused this command for a reason a retry cannot change (unknown
  meter, not switch-capable, idempotency key reused for another command): give it to staff.
- `HesUnavailable` — anything a later retry with the *same* idempotency key may fix: 5xx,
  429, timeouts, connection errors, and answers that do not parse (a broken proxy page, a
  half-written body). `HesAuthFailed` is one of these; see its docstring.

Answers are validated strictly: a field the contract promises that is missing or out of its
vocabulary is a malformed answer, never a default. Extra fields are ignored, so a head-end
that adds to the contract does not break us.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, cast
from urllib.parse import quote

import httpx

Action = Literal["connect", "disconnect"]
CommandState = Literal["accepted", "sent", "executed", "failed", "expired"]
RelayState = Literal["connected", "disconnected", "ready_for_reconnection", "unknown"]
MeterEventKind = Literal["relay_disconnected", "relay_connected"]

ACTIONS: tuple[str, ...] = ("connect", "disconnect")
COMMAND_STATES: tuple[str, ...] = ("accepted", "sent", "executed", "failed", "expired")
FINAL_COMMAND_STATES: tuple[str, ...] = ("executed", "failed", "expired")
RELAY_STATES: tuple[str, ...] = ("connected", "disconnected", "ready_for_reconnection", "unknown")
METER_EVENTS: tuple[str, ...] = ("relay_disconnected", "relay_connected")

# HTTP codes that say "try again later" even though they are 4xx: request timeout, a
# concurrent request with the same idempotency key still in progress, too early, rate limit.
_TRANSIENT_4XX = frozenset({408, 409, 425, 429})


class HesError(Exception):
    """Base of everything the connector raises about the head-end."""


class HesRejected(HesError):
    """A 4xx the HES will answer again to the same request: do not retry it."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"HES rejected the request ({status}): {error}")
        self.status = status
        self.error = error


class HesUnavailable(HesError):
    """The HES could not be reached or did not answer sensibly: retry later, same key."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class HesAuthFailed(HesUnavailable):
    """401/403: our API key is wrong or revoked.

    A configuration fault, not a fact about the meter, so it is *retryable*: every order would
    fail the same way, and escalating them all to staff during a key rotation would bury the
    real cases. Orders wait (with backoff) until the key is fixed; alert on this class.
    """


class InvalidCallback(ValueError):
    """A callback body that is not a well-formed `command.result` or `meter.event`."""


@dataclass(frozen=True)
class CommandReceipt:
    """The HES has the command (202). `status` is normally "accepted"."""

    command_id: str
    status: CommandState


@dataclass(frozen=True)
class CommandStatus:
    """A command as `GET /v1/commands/{id}` reports it."""

    command_id: str
    meter_id: str
    action: Action
    correlation_id: str
    status: CommandState
    relay_state: RelayState
    error: str | None
    updated_at: datetime

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_COMMAND_STATES


@dataclass(frozen=True)
class MeterStatus:
    """A meter as `GET /v1/meters/{id}` reports it; `last_seen_at` None if never heard from."""

    meter_id: str
    relay_state: RelayState
    last_seen_at: datetime | None


@dataclass(frozen=True)
class CommandResult:
    """A `command.result` callback. `error` (why a command failed) is an addition to the
    contract's callback that the simulator sends; other head-ends may leave it out."""

    event_id: str
    command_id: str
    correlation_id: str
    meter_id: str
    status: CommandState
    relay_state: RelayState
    at: datetime
    error: str | None = None


@dataclass(frozen=True)
class MeterEvent:
    """A `meter.event` callback: the relay changed outside any command of ours."""

    event_id: str
    meter_id: str
    event: MeterEventKind
    reason: str
    at: datetime


class HesClient:
    """Sends commands to the head-end and reads back commands and meters."""

    def __init__(self, base_url: str, api_key: str, http: httpx.AsyncClient,
                 timeout: float = 5.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = http
        self._timeout = timeout

    async def send_command(
        self, *, meter_id: str, action: Action, correlation_id: str, idempotency_key: str,
        reason: str, reply_url: str, expires_at: datetime,
    ) -> CommandReceipt:
        """Ask the HES to switch a relay. Safe to repeat with the same `idempotency_key`:
        the HES answers with the command it already has and never executes twice."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        if not idempotency_key:
            raise ValueError("idempotency_key must not be empty")
        body = {
            "meter_id": meter_id, "action": action, "correlation_id": correlation_id,
            "reason": reason, "reply_url": reply_url, "expires_at": format_moment(expires_at),
        }
        data = await self._request("POST", "/v1/commands", json_body=body,
                                   headers={"Idempotency-Key": idempotency_key})
        fields = _Fields(data, _malformed)
        return CommandReceipt(fields.text("command_id"),
                              cast(CommandState, fields.choice("status", COMMAND_STATES)))

    async def get_command(self, command_id: str) -> CommandStatus:
        data = await self._request("GET", f"/v1/commands/{quote(command_id, safe='')}")
        status = _command_status(_Fields(data, _malformed))
        if status.command_id != command_id:
            _malformed(f"asked for command {command_id!r}, got {status.command_id!r}")
        return status

    async def get_meter(self, meter_id: str) -> MeterStatus:
        data = await self._request("GET", f"/v1/meters/{quote(meter_id, safe='')}")
        fields = _Fields(data, _malformed)
        meter = MeterStatus(
            meter_id=fields.text("meter_id"),
            relay_state=cast(RelayState, fields.choice("relay_state", RELAY_STATES)),
            last_seen_at=fields.optional_moment("last_seen_at"),
        )
        if meter.meter_id != meter_id:
            _malformed(f"asked for meter {meter_id!r}, got {meter.meter_id!r}")
        return meter

    async def _request(self, method: str, path: str, *, json_body: Any = None,
                       headers: Mapping[str, str] | None = None) -> Mapping[str, Any]:
        """One call; returns the decoded JSON object of a 2xx, raises by the rules above."""
        all_headers = {"Authorization": f"Bearer {self._api_key}",
                       "Accept": "application/json", **(headers or {})}
        try:
            response = await self._http.request(
                method, self._base_url + path, json=json_body, headers=all_headers,
                timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise HesUnavailable(f"HES timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise HesUnavailable(f"HES unreachable: {type(exc).__name__}: {exc}") from exc
        _raise_for_status(response)
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise HesUnavailable("HES answered with a body that is not JSON",
                                 status=response.status_code) from exc
        if not isinstance(data, dict):
            _malformed("the answer is not a JSON object")
        return data


def _raise_for_status(response: httpx.Response) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    error = _error_text(response)
    if code in (401, 403):
        raise HesAuthFailed(f"HES refused our credentials ({code}): {error}", status=code)
    if code in _TRANSIENT_4XX or code >= 500:
        raise HesUnavailable(f"HES answered {code}: {error}", status=code,
                             retry_after=_retry_after(response))
    if 400 <= code < 500:
        raise HesRejected(code, error)
    raise HesUnavailable(f"HES answered an unexpected {code}", status=code)


def _error_text(response: httpx.Response) -> str:
    """The contract's {"error": "..."}, else the start of whatever the body was."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return json.dumps(data)[:200]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date, or absent: the caller's own backoff applies


def _malformed(problem: str) -> NoReturn:
    raise HesUnavailable(f"malformed answer from HES: {problem}")


def _invalid(problem: str) -> NoReturn:
    raise InvalidCallback(problem)


def _command_status(fields: _Fields) -> CommandStatus:
    return CommandStatus(
        command_id=fields.text("command_id"),
        meter_id=fields.text("meter_id"),
        action=cast(Action, fields.choice("action", ACTIONS)),
        correlation_id=fields.text("correlation_id"),
        status=cast(CommandState, fields.choice("status", COMMAND_STATES)),
        relay_state=cast(RelayState, fields.choice("relay_state", RELAY_STATES)),
        error=fields.optional_text("error"),
        updated_at=fields.moment("updated_at"),
    )


def parse_callback(body: bytes) -> CommandResult | MeterEvent:
    """Validate a callback body (after `signing.verify`, on the raw bytes). Raises
    `InvalidCallback` for anything but a well-formed `command.result` or `meter.event`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCallback("the body is not JSON") from exc
    if not isinstance(data, dict):
        _invalid("the body is not a JSON object")
    fields = _Fields(data, _invalid)
    kind = fields.choice("type", ("command.result", "meter.event"))
    if kind == "command.result":
        return CommandResult(
            event_id=fields.text("event_id"),
            command_id=fields.text("command_id"),
            correlation_id=fields.text("correlation_id"),
            meter_id=fields.text("meter_id"),
            status=cast(CommandState, fields.choice("status", COMMAND_STATES)),
            relay_state=cast(RelayState, fields.choice("relay_state", RELAY_STATES)),
            at=fields.moment("at"),
            error=fields.optional_text("error"),
        )
    return MeterEvent(
        event_id=fields.text("event_id"),
        meter_id=fields.text("meter_id"),
        event=cast(MeterEventKind, fields.choice("event", METER_EVENTS)),
        reason=fields.text("reason"),
        at=fields.moment("at"),
    )


def format_moment(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form every head-end parses."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_moment(value: str) -> datetime:
    """An ISO 8601 timestamp *with* an offset, as UTC. Raises ValueError otherwise: a naive
    time from a head-end is ambiguous (UTC? IST?) and must not be guessed."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return moment.astimezone(UTC)


class _Fields:
    """Typed reads from a decoded JSON object; every failure goes to `fail(problem)`."""

    def __init__(self, data: Mapping[str, Any], fail: Callable[[str], NoReturn]) -> None:
        self._data = data
        self._fail = fail

    def text(self, name: str) -> str:
        value = self._data.get(name)
        if not isinstance(value, str) or not value:
            self._fail(f"{name!r} must be a non-empty string")
        return cast(str, value)

    def optional_text(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is not None and not isinstance(value, str):
            self._fail(f"{name!r} must be a string or null")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self._data.get(name)
        if value not in allowed:
            self._fail(f"{name!r} must be one of {', '.join(allowed)}")
        return cast(str, value)

    def moment(self, name: str) -> datetime:
        value = self.text(name)
        try:
            return parse_moment(value)
        except ValueError:
            pass
        self._fail(f"{name!r} must be an ISO 8601 timestamp with an offset")

    def optional_moment(self, name: str) -> datetime | None:
        return None if self._data.get(name) is None else self.moment(name)
