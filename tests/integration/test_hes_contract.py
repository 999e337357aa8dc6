"""The HES contract, end to end in one process: the real `HesClient` over httpx against the
simulator's HTTP app, and the simulator's signed callbacks into a recording receiver.

Both hops run through `httpx.ASGITransport`, so every byte crosses the wire format — headers,
JSON, status codes — without sockets. Latency is 0 and callbacks are awaited (a queue, or
`simulator.drain()`), never slept for; randomness is seeded.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.sandboxes.hes import hes_simulator_app
from discom.hes import (
    CommandResult,
    HesAuthFailed,
    HesClient,
    HesRejected,
    HesUnavailable,
    MeterEvent,
    parse_callback,
    verify,
)
from discom.hes.simulator import HesSimulator, InMemoryMeterDirectory, SimMeter, SimulatorConfig

API_KEY = "test-hes-api-key"
SECRET = "test-hes-webhook-secret"
HES_URL = "http://hes.test"
REPLY_URL = "http://bijli.test/webhooks/hes"

SWITCHABLE = "SM-1001"
OTHER_SWITCHABLE = "SM-1002"
CONNECTED = "SM-1003"
CT_METER = "CT-2001"

COMMAND_RESULT_FIELDS = {"type", "event_id", "command_id", "correlation_id", "meter_id",
                         "status", "relay_state", "at"}
METER_EVENT_FIELDS = {"type", "event_id", "meter_id", "event", "reason", "at"}


@dataclass(frozen=True)
class Delivery:
    path: str
    body: bytes
    signature: str | None


class CallbackReceiver:
    """Bijli's webhook end as a bare ASGI app: records every POST and can answer 500 to the
    first `failures` of them, to exercise the simulator's redelivery."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.failures = 0
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http" and scope["method"] == "POST"
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        delivery = Delivery(scope["path"], body, headers.get("x-hes-signature"))
        self.deliveries.append(delivery)
        self._queue.put_nowait(delivery)
        status = 500 if self.failures > 0 else 204
        self.failures = max(0, self.failures - 1)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def next(self) -> CommandResult | MeterEvent:
        """The next callback, its signature verified as the webhook route will verify it."""
        delivery = await asyncio.wait_for(self._queue.get(), timeout=5)
        assert delivery.path == "/webhooks/hes"
        assert verify(delivery.body, delivery.signature, SECRET)
        return parse_callback(delivery.body)


@pytest.fixture
def receiver() -> CallbackReceiver:
    return CallbackReceiver()


@pytest.fixture
async def simulator(receiver: CallbackReceiver) -> AsyncIterator[HesSimulator]:
    directory = InMemoryMeterDirectory([
        SimMeter(SWITCHABLE, remote_switch=True, relay_state="disconnected"),
        SimMeter(OTHER_SWITCHABLE, remote_switch=True, relay_state="disconnected"),
        SimMeter(CONNECTED, remote_switch=True, relay_state="connected"),
        SimMeter(CT_METER, remote_switch=False, relay_state="connected"),
    ])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http:
        sim = HesSimulator(directory, http, SECRET, event_url=REPLY_URL, rng=random.Random(7),
                           config=SimulatorConfig(latency=0, callback_backoff=0))
        yield sim
        await sim.close()


@pytest.fixture
async def hes_http(simulator: HesSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hes_simulator_app(simulator, API_KEY))
    async with httpx.AsyncClient(transport=transport, base_url=HES_URL) as http:
        yield http


@pytest.fixture
def hes(hes_http: httpx.AsyncClient) -> HesClient:
    return HesClient(HES_URL, API_KEY, hes_http)


def bearer(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send(hes: HesClient, *, key: str = "reconnect-1-1", meter_id: str = SWITCHABLE,
               action: str = "connect", expires_in: timedelta = timedelta(minutes=10)) -> str:
    receipt = await hes.send_command(
        meter_id=meter_id, action=action,  # type: ignore[arg-type]
        correlation_id="order-1", idempotency_key=key, reason="payment_cleared",
        reply_url=REPLY_URL, expires_at=datetime.now(UTC) + expires_in)
    assert receipt.status == "accepted"
    return receipt.command_id


# --- the happy path ------------------------------------------------------------------------


async def test_a_connect_command_is_accepted_executed_and_reported_by_a_signed_callback(
    hes: HesClient, receiver: CallbackReceiver,
) -> None:
    command_id = await send(hes)

    result = await receiver.next()

    assert isinstance(result, CommandResult)
    assert (result.command_id, result.correlation_id, result.meter_id) == (
        command_id, "order-1", SWITCHABLE)
    assert (result.status, result.relay_state, result.error) == ("executed", "connected", None)
    polled = await hes.get_command(command_id)
    assert (polled.status, polled.relay_state, polled.action) == ("executed", "connected",
                                                                   "connect")
    assert polled.is_final and polled.updated_at.tzinfo is not None
    assert (await hes.get_meter(SWITCHABLE)).relay_state == "connected"


async def test_a_command_result_callback_carries_every_field_of_the_contract(
    hes: HesClient, receiver: CallbackReceiver,
) -> None:
    await send(hes)
    await receiver.next()

    body = json.loads(receiver.deliveries[0].body)

    assert body.keys() >= COMMAND_RESULT_FIELDS
    assert body["type"] == "command.result" and body["at"].endswith("Z")


async def test_a_command_stays_accepted_until_it_reaches_the_meter_and_close_cancels_it(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    simulator.configure(latency=3600)
    command_id = await send(hes)

    polled = await hes.get_command(command_id)
    await simulator.close()

    assert (polled.status, polled.relay_state) == ("accepted", "disconnected")
    assert simulator.in_flight == 0 and receiver.deliveries == []


# --- idempotency ---------------------------------------------------------------------------


async def test_the_same_idempotency_key_never_executes_twice(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    first = await send(hes, key="reconnect-7-1")
    await receiver.next()

    again = await send(hes, key="reconnect-7-1")
    await simulator.drain()

    assert again == first
    assert len(simulator.commands) == 1
    assert simulator.executions["reconnect-7-1"] == 1
    assert len(receiver.deliveries) == 1


async def test_twenty_concurrent_submissions_with_one_key_make_one_command_and_one_execution(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    command_ids = await asyncio.gather(*(send(hes, key="reconnect-9-1") for _ in range(20)))
    await simulator.drain()

    assert len(set(command_ids)) == 1
    assert len(simulator.commands) == 1
    assert simulator.executions["reconnect-9-1"] == 1
    assert len(receiver.deliveries) == 1


async def test_a_retry_with_a_fresh_expiry_is_still_the_same_command(
    hes: HesClient, simulator: HesSimulator,
) -> None:
    """The worker recomputes `expires_at` when it retries a key after a transport error."""
    first = await send(hes, key="reconnect-3-1", expires_in=timedelta(minutes=10))
    again = await send(hes, key="reconnect-3-1", expires_in=timedelta(minutes=25))

    assert again == first and len(simulator.commands) == 1


async def test_an_idempotency_key_reused_for_another_meter_is_rejected(
    hes: HesClient, simulator: HesSimulator,
) -> None:
    await send(hes, key="reconnect-4-1", meter_id=SWITCHABLE)

    with pytest.raises(HesRejected) as rejected:
        await send(hes, key="reconnect-4-1", meter_id=OTHER_SWITCHABLE)

    assert rejected.value.status == 422 and "Idempotency-Key" in rejected.value.error
    assert len(simulator.commands) == 1


async def test_a_replayed_submission_is_marked_as_replayed(hes_http: httpx.AsyncClient) -> None:
    body = {"meter_id": SWITCHABLE, "action": "connect", "correlation_id": "order-5",
            "reason": "payment_cleared", "reply_url": REPLY_URL,
            "expires_at": "2099-01-01T00:00:00Z"}
    headers = {**bearer(), "Idempotency-Key": "reconnect-5-1"}

    first = await hes_http.post("/v1/commands", json=body, headers=headers)
    second = await hes_http.post("/v1/commands", json=body, headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"


# --- outcomes at the meter -----------------------------------------------------------------


async def test_in_ready_for_reconnection_mode_the_relay_is_only_armed_until_the_button(
    hes: HesClient, hes_http: httpx.AsyncClient, receiver: CallbackReceiver,
) -> None:
    switched = await hes_http.post("/_control", json={"ready_for_reconnection_mode": True},
                                   headers=bearer())
    assert switched.json()["config"]["ready_for_reconnection_mode"] is True
    await send(hes)

    result = await receiver.next()
    assert isinstance(result, CommandResult)
    assert (result.status, result.relay_state) == ("executed", "ready_for_reconnection")
    assert (await hes.get_meter(SWITCHABLE)).relay_state == "ready_for_reconnection"

    pressed = await hes_http.post("/_control/press-button", json={"meter_id": SWITCHABLE},
                                  headers=bearer())
    assert pressed.status_code == 202
    event = await receiver.next()
    assert isinstance(event, MeterEvent)
    assert (event.meter_id, event.event) == (SWITCHABLE, "relay_connected")
    assert (await hes.get_meter(SWITCHABLE)).relay_state == "connected"


async def test_with_failure_rate_one_the_command_fails_and_the_relay_stays_open(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    simulator.configure(failure_rate=1.0)
    command_id = await send(hes)

    result = await receiver.next()

    assert isinstance(result, CommandResult)
    assert (result.status, result.relay_state) == ("failed", "disconnected")
    assert result.error
    polled = await hes.get_command(command_id)
    assert polled.status == "failed" and polled.error == result.error
    assert (await hes.get_meter(SWITCHABLE)).relay_state == "disconnected"


async def test_a_command_past_its_expiry_is_expired_and_never_executed(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    await send(hes, key="reconnect-6-1", expires_in=timedelta(seconds=-1))

    result = await receiver.next()

    assert isinstance(result, CommandResult)
    assert (result.status, result.relay_state) == ("expired", "disconnected")
    assert simulator.executions["reconnect-6-1"] == 0
    assert (await hes.get_meter(SWITCHABLE)).relay_state == "disconnected"


async def test_a_disconnect_command_opens_the_relay(
    hes: HesClient, receiver: CallbackReceiver,
) -> None:
    await send(hes, meter_id=CONNECTED, action="disconnect")

    result = await receiver.next()

    assert isinstance(result, CommandResult)
    assert (result.status, result.relay_state) == ("executed", "disconnected")


# --- refusals ------------------------------------------------------------------------------


async def test_an_unknown_meter_is_rejected(hes: HesClient) -> None:
    with pytest.raises(HesRejected) as rejected:
        await send(hes, meter_id="SM-NOPE")

    assert rejected.value.status == 404 and "SM-NOPE" in rejected.value.error


async def test_a_ct_operated_meter_without_a_switch_is_rejected(hes: HesClient) -> None:
    with pytest.raises(HesRejected) as rejected:
        await send(hes, meter_id=CT_METER)

    assert rejected.value.status == 422 and "switch" in rejected.value.error


async def test_an_unknown_command_id_is_rejected(hes: HesClient) -> None:
    with pytest.raises(HesRejected) as rejected:
        await hes.get_command("cmd_missing")

    assert rejected.value.status == 404


async def test_a_wrong_api_key_is_an_auth_failure_that_is_retried_not_escalated(
    hes_http: httpx.AsyncClient, simulator: HesSimulator,
) -> None:
    hes = HesClient(HES_URL, "not-the-key", hes_http)

    with pytest.raises(HesAuthFailed) as failed:
        await send(hes)

    assert failed.value.status == 401
    assert isinstance(failed.value, HesUnavailable)
    assert not isinstance(failed.value, HesRejected)
    assert simulator.commands == []


async def test_authentication_is_checked_before_the_body(hes_http: httpx.AsyncClient) -> None:
    response = await hes_http.post("/v1/commands", json={"nonsense": True},
                                   headers={**bearer("wrong"), "Idempotency-Key": "k"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "error" in response.json()


async def test_the_simulator_answers_400_without_an_idempotency_key(
    hes_http: httpx.AsyncClient, simulator: HesSimulator,
) -> None:
    body = {"meter_id": SWITCHABLE, "action": "connect", "correlation_id": "order-1",
            "reason": "payment_cleared", "reply_url": REPLY_URL,
            "expires_at": "2099-01-01T00:00:00Z"}

    response = await hes_http.post("/v1/commands", json=body, headers=bearer())

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]
    assert simulator.commands == []


@pytest.mark.parametrize("change", [
    {"action": "toggle"},
    {"meter_id": ""},
    {"reply_url": "not-a-url"},
    {"expires_at": "2099-01-01T00:00:00"},  # no offset: ambiguous
    {"expires_at": 4070908800},  # a Unix timestamp, not ISO 8601
    {"surprise": "field"},
    {"correlation_id": None},
])
async def test_the_simulator_answers_422_with_an_error_for_a_bad_body(
    hes_http: httpx.AsyncClient, simulator: HesSimulator, change: dict[str, Any],
) -> None:
    body = {"meter_id": SWITCHABLE, "action": "connect", "correlation_id": "order-1",
            "reason": "payment_cleared", "reply_url": REPLY_URL,
            "expires_at": "2099-01-01T00:00:00Z", **change}

    response = await hes_http.post("/v1/commands", json=body,
                                   headers={**bearer(), "Idempotency-Key": "reconnect-1-1"})

    assert response.status_code == 422
    assert isinstance(response.json()["error"], str)
    assert simulator.commands == []


async def test_the_control_endpoints_require_the_bearer_token(
    hes_http: httpx.AsyncClient, simulator: HesSimulator,
) -> None:
    changed = await hes_http.post("/_control", json={"down": True}, headers=bearer("wrong"))
    cut = await hes_http.post("/_control/disconnect", json={"meter_id": CONNECTED})

    assert changed.status_code == cut.status_code == 401
    assert simulator.config.down is False


# --- faults --------------------------------------------------------------------------------


async def test_a_down_head_end_is_unavailable_for_every_call_until_it_is_back(
    hes: HesClient, hes_http: httpx.AsyncClient, receiver: CallbackReceiver,
) -> None:
    command_id = await send(hes, key="reconnect-8-1")
    await receiver.next()
    await hes_http.post("/_control", json={"down": True}, headers=bearer())

    for call in (send(hes, key="reconnect-8-2"), hes.get_command(command_id),
                 hes.get_meter(SWITCHABLE)):
        with pytest.raises(HesUnavailable) as unavailable:
            await call
        assert unavailable.value.status == 503 and unavailable.value.retry_after == 1.0

    await hes_http.post("/_control", json={"down": False}, headers=bearer())
    assert (await hes.get_command(command_id)).status == "executed"


async def test_with_dropped_callbacks_polling_still_shows_the_command_executed(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    simulator.configure(drop_callbacks=True)
    command_id = await send(hes)

    await simulator.drain()

    assert receiver.deliveries == []
    assert simulator.callbacks.dropped == 1
    polled = await hes.get_command(command_id)
    assert (polled.status, polled.relay_state) == ("executed", "connected")


async def test_a_failed_callback_delivery_is_retried_with_the_same_event_id(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    receiver.failures = 2
    await send(hes)

    await simulator.drain()

    assert len(receiver.deliveries) == 3
    assert len({delivery.body for delivery in receiver.deliveries}) == 1
    assert simulator.callbacks.delivered == 1 and simulator.callbacks.given_up == 0


async def test_a_callback_that_never_gets_through_is_given_up_after_its_attempts(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    simulator.configure(callback_attempts=3)
    receiver.failures = 100
    command_id = await send(hes)

    await simulator.drain()

    assert len(receiver.deliveries) == 3
    assert simulator.callbacks.given_up == 1
    assert (await hes.get_command(command_id)).status == "executed"


# --- meter events --------------------------------------------------------------------------


async def test_a_disconnection_in_the_field_posts_a_signed_meter_event(
    hes: HesClient, hes_http: httpx.AsyncClient, receiver: CallbackReceiver,
) -> None:
    response = await hes_http.post("/_control/disconnect", json={"meter_id": CONNECTED},
                                   headers=bearer())
    assert response.status_code == 202

    event = await receiver.next()

    assert isinstance(event, MeterEvent)
    assert (event.meter_id, event.event, event.reason) == (
        CONNECTED, "relay_disconnected", "non_payment")
    assert event.event_id == response.json()["event_id"]
    assert json.loads(receiver.deliveries[0].body).keys() >= METER_EVENT_FIELDS
    assert (await hes.get_meter(CONNECTED)).relay_state == "disconnected"


async def test_the_whole_cycle_cut_for_non_payment_then_reconnected(
    hes: HesClient, simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    await simulator.emit_disconnect(CONNECTED)
    cut = await receiver.next()

    await send(hes, meter_id=CONNECTED, key="reconnect-2-1")
    restored = await receiver.next()

    assert isinstance(cut, MeterEvent) and cut.event == "relay_disconnected"
    assert isinstance(restored, CommandResult) and restored.relay_state == "connected"
    assert cut.event_id != restored.event_id
    assert (await hes.get_meter(CONNECTED)).relay_state == "connected"


async def test_a_ct_meter_cannot_be_cut_remotely(hes_http: httpx.AsyncClient) -> None:
    response = await hes_http.post("/_control/disconnect", json={"meter_id": CT_METER},
                                   headers=bearer())

    assert response.status_code == 422


# --- deployment shape ----------------------------------------------------------------------


async def test_the_simulator_works_mounted_under_a_prefix(
    simulator: HesSimulator, receiver: CallbackReceiver,
) -> None:
    bijli = FastAPI()
    bijli.mount("/sim/hes", hes_simulator_app(simulator, API_KEY))
    transport = httpx.ASGITransport(app=bijli)
    async with httpx.AsyncClient(transport=transport) as http:
        hes = HesClient("http://bijli.test/sim/hes/", API_KEY, http)
        command_id = await send(hes)
        await receiver.next()

        assert (await hes.get_command(command_id)).status == "executed"
        assert (await hes.get_meter(SWITCHABLE)).relay_state == "connected"
