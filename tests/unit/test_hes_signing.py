"""The callback signature and the callback parser: pure functions, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from discom.hes import CommandResult, InvalidCallback, MeterEvent, parse_callback, sign, verify

SECRET = "test-hes-webhook-secret"
BODY = b'{"type":"meter.event"}'


def test_the_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231, test case 2.
    assert sign(b"what do ya want for nothing?", "Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_a_correct_signature_verifies_in_either_hex_case() -> None:
    assert verify(BODY, sign(BODY, SECRET), SECRET)
    assert verify(BODY, sign(BODY, SECRET).upper(), SECRET)


def test_a_tampered_body_does_not_verify() -> None:
    assert not verify(BODY + b" ", sign(BODY, SECRET), SECRET)


def test_a_signature_made_with_another_secret_does_not_verify() -> None:
    assert not verify(BODY, sign(BODY, "another-secret"), SECRET)


@pytest.mark.parametrize("signature", [None, "", "zz", "deadbeef", "é" * 64,
                                       "sha256=" + sign(BODY, SECRET)])
def test_a_missing_or_malformed_signature_is_false_not_an_error(signature: str | None) -> None:
    assert verify(BODY, signature, SECRET) is False


RESULT = {"type": "command.result", "event_id": "evt_1", "command_id": "cmd_1",
          "correlation_id": "order-1", "meter_id": "SM-1001", "status": "executed",
          "relay_state": "connected", "at": "2026-11-27T10:00:00Z"}
EVENT = {"type": "meter.event", "event_id": "evt_2", "meter_id": "SM-1001",
         "event": "relay_disconnected", "reason": "non_payment", "at": "2026-11-27T10:00:00Z"}


def encode(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_a_command_result_parses_with_its_time_in_utc() -> None:
    result = parse_callback(encode({**RESULT, "at": "2026-11-27T15:30:00+05:30"}))

    assert isinstance(result, CommandResult)
    assert result.at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert (result.status, result.relay_state, result.error) == ("executed", "connected", None)


def test_a_meter_event_parses_and_extra_fields_are_ignored() -> None:
    event = parse_callback(encode({**EVENT, "firmware": "1.2"}))

    assert isinstance(event, MeterEvent)
    assert (event.event, event.reason) == ("relay_disconnected", "non_payment")


@pytest.mark.parametrize("body", [
    b"not json",
    b"\xff\xfe",
    encode([RESULT]),
    encode({**RESULT, "type": "command.progress"}),
    encode({key: value for key, value in RESULT.items() if key != "command_id"}),
    encode({**RESULT, "status": "done"}),
    encode({**RESULT, "relay_state": "armed"}),
    encode({**RESULT, "event_id": 17}),
    encode({**RESULT, "correlation_id": ""}),
    encode({**RESULT, "at": "2026-11-27T10:00:00"}),  # no offset
    encode({**RESULT, "at": "yesterday"}),
    encode({**RESULT, "error": 5}),
    encode({**EVENT, "event": "relay_exploded"}),
    encode({key: value for key, value in EVENT.items() if key != "reason"}),
])
def test_parse_callback_rejects_a_malformed_body(body: bytes) -> None:
    with pytest.raises(InvalidCallback):
        parse_callback(body)
