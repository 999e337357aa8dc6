"""A head-end system (HES) simulator: the embedded default's HES and the tests' fault injector.

It behaves like the real thing at the contract's level (ARCHITECTURE.md, "HES connector
contract"): a command is accepted at once, executed after a latency, reported by a signed
callback to its `reply_url` and readable by polling; the same idempotency key never executes
twice. Faults are switches that can be flipped at runtime: failures, lost callbacks, an API
that answers 503, relays that only arm (`ready_for_reconnection`).

It deliberately shares no code with `discom.hes.client` except the signature scheme: a fake
built from the client's own parsing would agree with the client even where both are wrong.
No web framework here — `api/sandboxes/hes.py` puts it on HTTP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import uuid4

import httpx
import structlog

from discom.clock import utcnow
from discom.hes.signing import HEADER, sign

log = structlog.get_logger(__name__)

SIM_ACTIONS = ("connect", "disconnect")


@dataclass(frozen=True)
class SimMeter:
    """A meter as the HES's asset register knows it before the simulator touches it."""

    meter_id: str
    remote_switch: bool
    relay_state: str = "disconnected"


class MeterDirectory(Protocol):
    """Where the simulator learns which meters exist (the embedded default reads Bijli's
    own `meters` table; tests use `InMemoryMeterDirectory`)."""

    async def lookup(self, meter_id: str) -> SimMeter | None: ...


class InMemoryMeterDirectory:
    """A dict of meters. `lookup` yields to the event loop like a database read would, so
    tests exercise the interleavings a real directory produces."""

    def __init__(self, meters: Iterable[SimMeter] = ()) -> None:
        self._meters = {meter.meter_id: meter for meter in meters}

    def add(self, meter: SimMeter) -> None:
        self._meters[meter.meter_id] = meter

    async def lookup(self, meter_id: str) -> SimMeter | None:
        await asyncio.sleep(0)
        return self._meters.get(meter_id)


class SimulatorError(Exception):
    """A refusal, with the HTTP status the simulator's API answers it with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidCommand(SimulatorError):
    status = 422


class UnknownMeter(SimulatorError):
    status = 404


class UnknownCommand(SimulatorError):
    status = 404


class NotSwitchable(SimulatorError):
    status = 422


class IdempotencyConflict(SimulatorError):
    """The key was used for a different command (IETF idempotency-key draft: 422)."""

    status = 422


class RelayNotArmed(SimulatorError):
    status = 409


class HesDown(SimulatorError):
    status = 503


@dataclass(frozen=True)
class SimulatorConfig:
    """Behaviour switches; replace them at runtime with `HesSimulator.configure`."""

    latency: float = 0.5  # seconds from acceptance to execution at the meter
    failure_rate: float = 0.0  # probability that a command fails at the meter
    ready_for_reconnection_mode: bool = False  # connect only arms the relay
    down: bool = False  # every API call answers 503
    drop_callbacks: bool = False  # callbacks are lost (Bijli must poll)
    callback_attempts: int = 4  # deliveries of one callback before giving up
    callback_backoff: float = 0.5  # seconds before the 2nd delivery, doubling after

    def __post_init__(self) -> None:
        if self.latency < 0 or self.callback_backoff < 0:
            raise ValueError("latency and callback_backoff must not be negative")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if self.callback_attempts < 1:
            raise ValueError("callback_attempts must be at least 1")


@dataclass
class SimCommand:
    """One command the simulator accepted, and where it has got to."""

    command_id: str
    meter_id: str
    action: str
    correlation_id: str
    idempotency_key: str
    reason: str
    reply_url: str
    expires_at: datetime
    status: str
    relay_state: str
    created_at: datetime
    updated_at: datetime
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The body of `GET /v1/commands/{id}`."""
        return {
            "command_id": self.command_id, "meter_id": self.meter_id, "action": self.action,
            "correlation_id": self.correlation_id, "status": self.status,
            "relay_state": self.relay_state, "error": self.error,
            "updated_at": iso(self.updated_at),
        }


@dataclass
class CallbackStats:
    delivered: int = 0
    dropped: int = 0  # not sent because drop_callbacks was on
    given_up: int = 0  # every attempt failed


@dataclass(frozen=True)
class Submission:
    command: SimCommand
    replayed: bool  # True when the idempotency key was already known


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    """Random, not a counter: ids must stay unique across simulator restarts, or Bijli's
    inbound-event dedupe would swallow a restarted simulator's fresh events."""
    return f"{prefix}_{uuid4().hex}"


class HesSimulator:
    """The state machine of a head-end: commands, relays, callbacks, meter events."""

    def __init__(
        self, directory: MeterDirectory, http: httpx.AsyncClient, webhook_secret: str, *,
        config: SimulatorConfig | None = None, event_url: str | None = None,
        rng: random.Random | None = None, clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.event_url = event_url  # where meter events go (Bijli's /webhooks/hes)
        self.commands: list[SimCommand] = []
        self.executions: Counter[str] = Counter()  # idempotency key → executions at a meter
        self.callbacks = CallbackStats()
        self._directory, self._http, self._secret = directory, http, webhook_secret
        self._rng = rng or random.Random()  # noqa: S311 - simulation, not security
        self._clock = clock
        self._by_id: dict[str, SimCommand] = {}
        self._by_key: dict[str, SimCommand] = {}
        self._relays: dict[str, str] = {}  # meter id → relay state, once the HES has acted
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- configuration and lifecycle -------------------------------------------------------

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Change behaviour switches (validated; an unknown name is a ValueError)."""
        try:
            self.config = dataclasses.replace(self.config, **changes)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc
        return self.config

    @property
    def in_flight(self) -> int:
        """Executions and callback deliveries still running."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every execution and callback delivery in progress has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel work in progress. The HTTP client is the caller's to close."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def ensure_up(self) -> None:
        """Raise `HesDown` while the `down` fault is on (or after `close()`)."""
        if self.config.down or self._closed:
            raise HesDown("head-end system unavailable")

    # --- the API ---------------------------------------------------------------------------

    async def submit(
        self, *, meter_id: str, action: str, correlation_id: str, idempotency_key: str,
        reason: str, reply_url: str, expires_at: datetime,
    ) -> Submission:
        """Accept a command, or hand back the one this idempotency key already made."""
        self.ensure_up()
        _check_command(action, expires_at, idempotency_key)
        known = self._known(idempotency_key, meter_id, action)
        if known is not None:
            return Submission(known, replayed=True)
        meter = await self._switchable_meter(meter_id, action)
        # The directory lookup awaited: a concurrent submission may have won the race.
        known = self._known(idempotency_key, meter_id, action)
        if known is not None:
            return Submission(known, replayed=True)
        now = self._clock()
        command = SimCommand(
            command_id=new_id("cmd"), meter_id=meter_id, action=action,
            correlation_id=correlation_id, idempotency_key=idempotency_key, reason=reason,
            reply_url=reply_url, expires_at=expires_at, status="accepted",
            relay_state=self._relay(meter), created_at=now, updated_at=now)
        self.commands.append(command)
        self._by_id[command.command_id] = command
        self._by_key[idempotency_key] = command
        self._spawn(self._carry_out(command))
        return Submission(command, replayed=False)

    def get_command(self, command_id: str) -> SimCommand:
        self.ensure_up()
        command = self._by_id.get(command_id)
        if command is None:
            raise UnknownCommand(f"no command {command_id}")
        return command

    async def get_meter(self, meter_id: str) -> dict[str, Any]:
        """The body of `GET /v1/meters/{id}`: an on-demand read, so the meter is seen now."""
        self.ensure_up()
        meter = await self._meter(meter_id)
        return {"meter_id": meter_id, "relay_state": self._relay(meter),
                "last_seen_at": iso(self._clock())}

    # --- control: what happens in the field ------------------------------------------------

    async def emit_disconnect(self, meter_id: str, reason: str = "non_payment") -> dict[str, Any]:
        """The discom's collection drive opened this relay: record it and post a signed
        `meter.event` to `event_url`, so a demo can run the whole cut-pay-restore cycle."""
        meter = await self._meter(meter_id)
        if not meter.remote_switch:
            raise NotSwitchable(f"meter {meter_id} has no remote switch")
        return self._meter_event(meter_id, "disconnected", "relay_disconnected", reason)

    async def press_button(self, meter_id: str) -> dict[str, Any]:
        """The consumer pressed the button of an armed meter: the relay closes."""
        meter = await self._meter(meter_id)
        if self._relay(meter) != "ready_for_reconnection":
            raise RelayNotArmed(f"meter {meter_id} is not ready for reconnection")
        return self._meter_event(meter_id, "connected", "relay_connected", "consumer_button")

    def _meter_event(self, meter_id: str, relay: str, event: str, reason: str) -> dict[str, Any]:
        self._relays[meter_id] = relay
        payload = {"type": "meter.event", "event_id": new_id("evt"), "meter_id": meter_id,
                   "event": event, "reason": reason, "at": iso(self._clock())}
        if self.event_url:
            self._spawn(self._deliver(self.event_url, payload))
        return payload

    # --- meters ----------------------------------------------------------------------------

    async def _meter(self, meter_id: str) -> SimMeter:
        meter = await self._directory.lookup(meter_id)
        if meter is None:
            raise UnknownMeter(f"unknown meter {meter_id}")
        return meter

    async def _switchable_meter(self, meter_id: str, action: str) -> SimMeter:
        meter = await self._meter(meter_id)
        if not meter.remote_switch:
            raise NotSwitchable(f"meter {meter_id} has no remote switch; cannot {action}")
        return meter

    def _relay(self, meter: SimMeter) -> str:
        """The simulator's own state once it has acted on the meter; the register's before."""
        return self._relays.get(meter.meter_id, meter.relay_state)

    def _known(self, key: str, meter_id: str, action: str) -> SimCommand | None:
        """The command this key already made. Only meter and action must match: a retry may
        carry a fresh `expires_at` or reply URL and is still the same command."""
        command = self._by_key.get(key)
        if command is not None and (command.meter_id, command.action) != (meter_id, action):
            raise IdempotencyConflict("Idempotency-Key already used for another command")
        return command

    # --- execution -------------------------------------------------------------------------

    async def _carry_out(self, command: SimCommand) -> None:
        """accepted → (latency) → expired, or sent → executed | failed; then the callback."""
        await asyncio.sleep(self.config.latency)
        if self._clock() >= command.expires_at:
            self._update(command, "expired", error="expired before it reached the meter")
        else:
            self._update(command, "sent")
            self._execute(command)
        await self._deliver(command.reply_url, self._result(command))

    def _execute(self, command: SimCommand) -> None:
        self.executions[command.idempotency_key] += 1
        if self._rng.random() < self.config.failure_rate:
            self._update(command, "failed", error="meter did not respond")
            return
        current = self._relays.get(command.meter_id, command.relay_state)
        if command.action == "disconnect":
            relay = "disconnected"
        elif current == "connected" or not self.config.ready_for_reconnection_mode:
            relay = "connected"
        else:
            relay = "ready_for_reconnection"
        self._relays[command.meter_id] = relay
        self._update(command, "executed", relay_state=relay)

    def _update(self, command: SimCommand, status: str, *, relay_state: str | None = None,
                error: str | None = None) -> None:
        command.status, command.error = status, error
        command.relay_state = relay_state or self._relays.get(command.meter_id,
                                                              command.relay_state)
        command.updated_at = self._clock()

    def _result(self, command: SimCommand) -> dict[str, Any]:
        return {"type": "command.result", "event_id": new_id("evt"),
                "command_id": command.command_id, "correlation_id": command.correlation_id,
                "meter_id": command.meter_id, "status": command.status,
                "relay_state": command.relay_state, "error": command.error,
                "at": iso(command.updated_at)}

    # --- callbacks -------------------------------------------------------------------------

    async def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        """POST a signed callback; retry with doubling backoff, then give up (Bijli polls).
        Every attempt carries the same body, hence the same event_id to dedupe on."""
        if self.config.drop_callbacks:
            self.callbacks.dropped += 1
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(body, self._secret)}
        for attempt in range(self.config.callback_attempts):
            if attempt:
                await asyncio.sleep(self.config.callback_backoff * 2 ** (attempt - 1))
            if await self._post(url, body, headers):
                self.callbacks.delivered += 1
                return
        self.callbacks.given_up += 1
        log.warning("hes simulator gave up a callback", event_id=payload["event_id"])

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        try:
            response = await self._http.post(url, content=body, headers=headers, timeout=5.0)
        except httpx.HTTPError as exc:
            log.info("hes simulator callback failed", error=type(exc).__name__)
            return False
        return response.is_success

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work in the background, owned: kept until done, cancelled by `close()`."""
        if self._closed:
            work.close()
            return
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hes simulator task crashed", exc_info=task.exception())


def _check_command(action: str, expires_at: datetime, idempotency_key: str) -> None:
    if action not in SIM_ACTIONS:
        raise InvalidCommand(f"action must be one of {', '.join(SIM_ACTIONS)}")
    if expires_at.tzinfo is None:
        raise InvalidCommand("expires_at must carry a UTC offset")
    if not idempotency_key:
        raise InvalidCommand("Idempotency-Key must not be empty")
