"""The HES client against scripted answers (`httpx.MockTransport`): how it sends, and how
it sorts every kind of answer into a value, `HesRejected` or `HesUnavailable`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from discom.hes import HesAuthFailed, HesClient, HesRejected, HesUnavailable

API_KEY = "test-hes-api-key"
EXPIRES = datetime(2026, 11, 27, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
COMMAND = {"command_id": "cmd_1", "meter_id": "SM-1001", "action": "connect",
           "correlation_id": "order-1", "status": "sent", "relay_state": "disconnected",
           "error": None, "updated_at": "2026-11-27T10:00:00Z"}

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, base_url: str = "http://hes.test/") -> HesClient:
    return HesClient(base_url, API_KEY, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def answer(status: int, body: object = None, **kwargs: object) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, **kwargs)  # type: ignore[arg-type]
        return httpx.Response(status, json=body, **kwargs)  # type: ignore[arg-type]
    return handle


def fail_with(error: Exception) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error
    return handle


async def send(hes: HesClient, expires_at: datetime = EXPIRES) -> object:
    return await hes.send_command(
        meter_id="SM-1001", action="connect", correlation_id="order-1",
        idempotency_key="reconnect-1-1", reason="payment_cleared",
        reply_url="http://bijli.test/webhooks/hes", expires_at=expires_at)


async def test_a_command_is_sent_with_bearer_idempotency_key_and_the_contract_body() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"command_id": "cmd_1", "status": "accepted"})

    receipt = await send(client(handle))

    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", "http://hes.test/v1/commands")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["idempotency-key"] == "reconnect-1-1"
    assert json.loads(request.content) == {
        "meter_id": "SM-1001", "action": "connect", "correlation_id": "order-1",
        "reason": "payment_cleared", "reply_url": "http://bijli.test/webhooks/hes",
        "expires_at": "2026-11-27T10:00:00Z"}
    assert receipt.command_id == "cmd_1"  # type: ignore[attr-defined]


async def test_a_naive_expiry_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        await send(client(answer(202, {})), expires_at=datetime(2026, 11, 27))


async def test_path_segments_are_escaped() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(404, json={"error": "unknown command"})

    with pytest.raises(HesRejected):
        await client(handle).get_command("cmd/../x")

    assert seen == ["/v1/commands/cmd%2F..%2Fx"]


@pytest.mark.parametrize("handler", [
    answer(202, {"status": "accepted"}),  # no command_id
    answer(202, {"command_id": "", "status": "accepted"}),
    answer(202, {"command_id": "cmd_1", "status": "queued"}),
    answer(202, [{"command_id": "cmd_1"}]),
    answer(202, b"<html>gateway</html>"),
    answer(302, b"", headers={"Location": "http://elsewhere.test/"}),
])
async def test_a_malformed_acceptance_is_unavailable_not_a_success(handler: Handler) -> None:
    with pytest.raises(HesUnavailable):
        await send(client(handler))


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409, 429])
async def test_server_errors_and_transient_4xx_are_unavailable(status: int) -> None:
    with pytest.raises(HesUnavailable) as unavailable:
        await send(client(answer(status, {"error": "busy"})))

    assert unavailable.value.status == status
    assert not isinstance(unavailable.value, HesRejected)


async def test_retry_after_is_passed_on() -> None:
    with pytest.raises(HesUnavailable) as unavailable:
        await send(client(answer(429, {"error": "slow down"}, headers={"Retry-After": "7"})))

    assert unavailable.value.retry_after == 7.0


@pytest.mark.parametrize(("status", "body", "error"), [
    (404, {"error": "unknown meter SM-1001"}, "unknown meter SM-1001"),
    (422, {"error": "not switch-capable"}, "not switch-capable"),
    (400, b"bad request", "bad request"),
])
async def test_a_4xx_is_rejected_with_the_heads_error_text(
    status: int, body: object, error: str,
) -> None:
    with pytest.raises(HesRejected) as rejected:
        await send(client(answer(status, body)))

    assert (rejected.value.status, rejected.value.error) == (status, error)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_an_auth_failure(status: int) -> None:
    with pytest.raises(HesAuthFailed):
        await send(client(answer(status, {"error": "bad key"})))


@pytest.mark.parametrize("error", [
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
    httpx.ConnectTimeout("slow"),
    httpx.RemoteProtocolError("hung up"),
])
async def test_network_failures_are_unavailable(error: Exception) -> None:
    with pytest.raises(HesUnavailable):
        await send(client(fail_with(error)))


async def test_a_polled_command_is_parsed_with_its_time_in_utc() -> None:
    status = await client(answer(200, COMMAND)).get_command("cmd_1")

    assert (status.status, status.relay_state, status.action) == ("sent", "disconnected",
                                                                  "connect")
    assert status.updated_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert status.is_final is False


@pytest.mark.parametrize("change", [
    {"status": "done"},
    {"relay_state": "armed"},
    {"action": "toggle"},
    {"updated_at": "2026-11-27T10:00:00"},
    {"error": 3},
    {"command_id": "cmd_other"},
])
async def test_a_malformed_command_status_is_unavailable(change: dict[str, object]) -> None:
    with pytest.raises(HesUnavailable):
        await client(answer(200, {**COMMAND, **change})).get_command("cmd_1")


async def test_a_meter_never_seen_has_no_last_seen_time() -> None:
    meter = await client(answer(200, {"meter_id": "SM-1001", "relay_state": "unknown",
                                      "last_seen_at": None})).get_meter("SM-1001")

    assert (meter.relay_state, meter.last_seen_at) == ("unknown", None)
