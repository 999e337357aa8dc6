"""Use case: the head-end reports that a meter was cut, and Bijli charges and tells the consumer.

`POST /webhooks/hes` takes signed `meter.event` callbacks (ARCHITECTURE.md, HES contract).
A `relay_disconnected` for non-payment adds the disconnection and reconnection charges of
the consumer's tariff and tells the consumer's chats the new total with a payment link; a
disconnection by staff (`manual`) adds nothing and is never undone by a payment.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from discom.clock import utcnow
from discom.hes.signing import sign
from discom.models import LedgerEntry, Meter
from discom.money import format_inr
from discom.reconnection.sweep import sweep
from discom.settings import Settings
from tests.fakes.bijli_app import WEBHOOK_SECRET, BijliApp, demo_no, test_settings
from tests.fakes.razorpay_server import RazorpayServer
from tests.payment_steps import (
    DUE_SOON,
    ask_for_link,
    console_text,
    counts,
    demo_owed,
    dues_of,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_chat_to,
    links_of,
    payment_credits,
)

SHOP = "shop, non-domestic, due today"  # tariff LV2, connected, ₹2,745.50 due
OVERDUE = "overdue by 10 days"  # tariff LV1, connected, ₹2,310.00 due
LV2_DISCONNECTION, LV2_RECONNECTION = 25_000, 20_000
DEFAULT_CHARGE = 15_000


@pytest.fixture
def bijli_settings(database_url: str, razorpay_server: RazorpayServer) -> Settings:
    """As tests/fakes/bijli_app.py's, with charges that differ for tariff LV2."""
    return test_settings(
        database_url, razorpay_key_id=razorpay_server.key_id,
        razorpay_key_secret=razorpay_server.key_secret,
        razorpay_api_base_url=razorpay_server.api_base_url,
        razorpay_webhook_secret=WEBHOOK_SECRET,
        disconnection_charges_paise={"default": DEFAULT_CHARGE, "LV2": LV2_DISCONNECTION},
        reconnection_charges_paise={"default": DEFAULT_CHARGE, "LV2": LV2_RECONNECTION})


def meter_event(consumer_no: str, *, event: str = "relay_disconnected",
                reason: str = "non_payment", event_id: str = "evt-cut-1",
                at: datetime | None = None) -> dict[str, Any]:
    moment = (at or utcnow()).isoformat().replace("+00:00", "Z")
    return {"type": "meter.event", "event_id": event_id, "meter_id": f"SM{consumer_no}",
            "event": event, "reason": reason, "at": moment}


async def post_hes(bijli: BijliApp, body: dict[str, Any] | bytes, *,
                   signature: str | None = "sign") -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = sign(raw, bijli.services.settings.hes_webhook_secret.get_secret_value())
    if signature is not None:
        headers["X-HES-Signature"] = signature
    return await bijli.client.post("/webhooks/hes", content=raw, headers=headers)


async def meter_of(bijli: BijliApp, consumer_no: str) -> Meter:
    async with bijli.db.uow() as uow:
        meter = await uow.session.scalar(select(Meter).where(Meter.meter_id == f"SM{consumer_no}"))
    assert meter is not None
    return meter


async def charges_of(bijli: BijliApp, consumer_no: str) -> list[tuple[str, int]]:
    consumer_id = await bijli.consumer_id(consumer_no)
    async with bijli.db.uow() as uow:
        rows = await uow.session.execute(
            select(LedgerEntry.detail, LedgerEntry.amount_paise).where(
                LedgerEntry.consumer_id == consumer_id, LedgerEntry.kind == "charge")
            .order_by(LedgerEntry.id))
        return [tuple(row) for row in rows]


# --- a disconnection for non-payment --------------------------------------------------------

async def test_a_non_payment_disconnection_adds_the_tariffs_charges_and_tells_the_total_with_a_link(
        bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    await link_chat_to(bijli, "shopkeeper", consumer_no)

    response = await post_hes(bijli, meter_event(consumer_no))
    await bijli.drain()

    assert response.status_code == 200
    meter = await meter_of(bijli, consumer_no)
    assert (meter.relay_state, meter.relay_reason) == ("disconnected", "non_payment")
    assert await charges_of(bijli, consumer_no) == [
        ("disconnection", LV2_DISCONNECTION), ("reconnection", LV2_RECONNECTION)]
    total = demo_owed(SHOP) + LV2_DISCONNECTION + LV2_RECONNECTION
    assert (await dues_of(bijli, consumer_no)).total == total
    [message] = await bijli.messages("shopkeeper")
    assert message.kind == "disconnected"
    told = console_text(bijli)
    assert f"meter SM{consumer_no}) was disconnected for non-payment" in told
    assert f"including disconnection and reconnection charges: {format_inr(total)}" in told
    [link] = await links_of(bijli, consumer_no)
    assert f"Pay here: {link.short_url}" in told
    assert bijli.razorpay.link(link.provider_link_id).amount == total


async def test_a_tariff_without_its_own_charges_pays_the_default_ones(bijli: BijliApp):
    consumer_no = demo_no(OVERDUE)

    await post_hes(bijli, meter_event(consumer_no))

    assert await charges_of(bijli, consumer_no) == [
        ("disconnection", DEFAULT_CHARGE), ("reconnection", DEFAULT_CHARGE)]


async def test_the_holders_chat_that_asked_for_a_link_is_told_with_a_new_link_for_the_new_total(
        bijli: BijliApp):
    consumer_no = demo_no(OVERDUE)
    await link_chat_to(bijli, "payer", consumer_no)  # the holder: told of it all
    payer = await ask_for_link(bijli, consumer_no)

    await post_hes(bijli, meter_event(consumer_no))
    await bijli.drain()

    total = demo_owed(OVERDUE) + 2 * DEFAULT_CHARGE
    old, new = await links_of(bijli, consumer_no)
    assert (old.amount_paise, new.amount_paise) == (demo_owed(OVERDUE), total)
    told = console_text(bijli)
    assert format_inr(total) in told
    assert new.short_url in told and payer.link_url not in told


async def test_no_chat_of_the_consumer_means_no_message_but_the_charges_are_added(
        bijli: BijliApp):
    consumer_no = demo_no(OVERDUE)
    stranger = await ask_for_link(bijli, demo_no(DUE_SOON), "someone-else")

    await post_hes(bijli, meter_event(consumer_no))
    await bijli.drain()

    assert len(await charges_of(bijli, consumer_no)) == 2
    assert await bijli.messages("someone-else") == []
    assert stranger.link_url  # that chat's own account was not touched
    assert await charges_of(bijli, demo_no(DUE_SOON)) == []


async def test_paying_the_total_from_the_disconnection_message_reconnects(bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    await link_chat_to(bijli, "shopkeeper", consumer_no)
    await post_hes(bijli, meter_event(consumer_no, at=utcnow() - timedelta(minutes=5)))
    await bijli.drain()
    [link] = await links_of(bijli, consumer_no)

    await bijli.pay(link.short_url)
    await bijli.drain()

    assert (await dues_of(bijli, consumer_no)).total == 0
    assert [o.status for o in await bijli.orders(consumer_no)] == ["confirmed"]
    assert [c.meter_id for c in bijli.services.simulator.commands] == [f"SM{consumer_no}"]
    assert (await meter_of(bijli, consumer_no)).relay_state == "connected"
    assert [m.kind for m in await bijli.messages("shopkeeper")] == [
        "disconnected", "payment_received", "reconnection_started", "supply_restored"]


# --- repeated, late and out-of-order reports ------------------------------------------------

async def test_the_same_event_again_adds_no_second_charges_and_no_second_message(
        bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    await link_chat_to(bijli, "shopkeeper", consumer_no)
    event = meter_event(consumer_no)

    first = await post_hes(bijli, event)
    again = await post_hes(bijli, event)
    await bijli.drain()

    assert (first.json()["status"], again.json()["status"]) == ("applied", "duplicate")
    assert len(await charges_of(bijli, consumer_no)) == 2
    assert [m.kind for m in await bijli.messages("shopkeeper")] == ["disconnected"]


async def test_a_second_report_of_the_same_disconnection_adds_no_second_charges(
        bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    cut_at = utcnow() - timedelta(minutes=10)

    await post_hes(bijli, meter_event(consumer_no, event_id="evt-cut-1", at=cut_at))
    await post_hes(bijli, meter_event(consumer_no, event_id="evt-cut-2",
                                      at=cut_at + timedelta(minutes=1)))

    assert len(await charges_of(bijli, consumer_no)) == 2


async def test_an_older_event_arriving_after_a_newer_one_does_not_turn_the_relay_back(
        bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    start = utcnow() - timedelta(minutes=30)
    await post_hes(bijli, meter_event(consumer_no, event_id="evt-1", at=start))
    await post_hes(bijli, meter_event(consumer_no, event="relay_connected", reason="manual",
                                      event_id="evt-3", at=start + timedelta(minutes=20)))

    late = await post_hes(bijli, meter_event(consumer_no, event_id="evt-2",
                                             at=start + timedelta(minutes=10)))

    assert late.status_code == 200
    meter = await meter_of(bijli, consumer_no)
    assert meter.relay_state == "connected"
    assert len(await charges_of(bijli, consumer_no)) == 2


async def test_a_disconnection_older_than_the_meters_last_known_change_changes_nothing(
        bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    before = await meter_of(bijli, consumer_no)
    assert before.relay_changed_at is not None

    await post_hes(bijli, meter_event(consumer_no,
                                      at=before.relay_changed_at - timedelta(days=1)))

    after = await meter_of(bijli, consumer_no)
    assert after.relay_state == "connected"
    assert await charges_of(bijli, consumer_no) == []


# --- a disconnection by staff ---------------------------------------------------------------

async def test_a_manual_disconnection_adds_no_charges_and_payment_never_reconnects_it(
        bijli: BijliApp):
    consumer_no = demo_no(OVERDUE)
    await link_chat_to(bijli, "owner", consumer_no)

    response = await post_hes(bijli, meter_event(consumer_no, reason="manual"))
    paid = await bijli.post_ops_payment(consumer_no, demo_owed(OVERDUE), "CC-OVERDUE-1")
    swept = await sweep(bijli.db, utcnow())
    await bijli.drain()

    assert (response.status_code, paid.status_code) == (200, 201)
    meter = await meter_of(bijli, consumer_no)
    assert (meter.relay_state, meter.relay_reason) == ("disconnected", "manual")
    assert await charges_of(bijli, consumer_no) == []
    assert await payment_credits(bijli, consumer_no) == [demo_owed(OVERDUE)]
    assert (await dues_of(bijli, consumer_no)).total == 0
    assert swept == 0
    assert await bijli.orders(consumer_no) == []
    assert bijli.services.simulator.commands == []
    assert "disconnected" not in [m.kind for m in await bijli.messages("owner")]


# --- refused --------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["missing", "empty", "wrong", "razorpay-secret", "other-body"])
async def test_a_bad_signature_is_refused_with_403_and_nothing_is_written(
        bijli: BijliApp, how: str):
    consumer_no = demo_no(SHOP)
    body = json.dumps(meter_event(consumer_no)).encode()
    secret = bijli.services.settings.hes_webhook_secret.get_secret_value()
    signature = {"missing": None, "empty": "", "wrong": "f" * 64,
                 "razorpay-secret": sign(body, WEBHOOK_SECRET),
                 "other-body": sign(body + b"\n", secret)}[how]
    before = await counts(bijli)

    response = await post_hes(bijli, body, signature=signature)

    assert response.status_code == 403
    assert await counts(bijli) == before
    assert (await meter_of(bijli, consumer_no)).relay_state == "connected"
    assert await charges_of(bijli, consumer_no) == []


def _without(name: str) -> dict[str, Any]:
    event = meter_event(demo_no(SHOP))
    del event[name]
    return event


MALFORMED = {
    "not-json": b"{meter",
    "not-utf8": b"\xff\xfe",
    "array": b"[]",
    "no-type": _without("type"),
    "unknown-type": {**meter_event(demo_no(SHOP)), "type": "meter.reading"},
    "no-event-id": _without("event_id"),
    "no-meter": _without("meter_id"),
    "unknown-event": {**meter_event(demo_no(SHOP)), "event": "relay_exploded"},
    "no-reason": _without("reason"),
    "reason-not-text": {**meter_event(demo_no(SHOP)), "reason": 7},
    "naive-at": {**meter_event(demo_no(SHOP)), "at": "2026-11-27T10:00:00"},
    "at-not-a-time": {**meter_event(demo_no(SHOP)), "at": "yesterday"},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_signed_but_malformed_body_is_refused_with_400_and_nothing_is_written(
        bijli: BijliApp, body: dict[str, Any] | bytes):
    consumer_no = demo_no(SHOP)
    before = await counts(bijli)

    response = await post_hes(bijli, body)

    assert response.status_code == 400
    assert await counts(bijli) == before
    assert (await meter_of(bijli, consumer_no)).relay_state == "connected"
    assert await charges_of(bijli, consumer_no) == []
