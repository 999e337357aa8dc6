"""Finding Low 8: malformed input gets a 4xx or a clear refusal, never a 500 or a frozen
record. NUL characters in Telegram text and callback_data (PostgreSQL refuses them), 100,000-deep
JSON, out-of-range list parameters, and a HES report dated 2099."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import update

from api.app import create_app
from bot.dialog.messages import Incoming
from discom.clock import utcnow
from discom.db import Database
from discom.demo import seed
from discom.hes.signing import sign
from discom.models import Meter
from discom.money import format_inr
from tests.fakes.bijli_app import OPS_TOKEN, BijliApp, demo_no
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.telegram_updates import callback_update, text_update
from tests.integration.test_hes_meter_events import meter_event, meter_of, post_hes
from tests.integration.test_telegram_webhook import (
    CHAT,
    DISCONNECTED,
    SECRET,
    deliver,
    demo,
    start_in_english,
    telegram_settings,
)
from tests.payment_steps import (
    counts,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
)

SHOP = "shop, non-domestic, due today"  # connected
AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}
DEEP = 100_000


@pytest.fixture
async def telegram_app(db: Database, database_url: str, fake_telegram: FakeTelegramAPI
                       ) -> AsyncIterator[httpx.AsyncClient]:
    await seed(db)
    app = create_app(telegram_settings(database_url, fake_telegram))
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bijli.test"
    ) as client:
        yield client


# --- NUL characters -------------------------------------------------------------------------

def test_nul_characters_never_reach_the_dialog():
    incoming = Incoming("telegram", "55\x00", text="/dues 1\x00234", button="lang:\x00en",
                        contact_phone="+9198\x00")

    assert (incoming.chat_ref, incoming.text, incoming.button, incoming.contact_phone) == (
        "55", "/dues 1234", "lang:en", "+9198")


async def test_a_message_with_nul_characters_is_answered_as_without_them(
        telegram_app: httpx.AsyncClient, fake_telegram: FakeTelegramAPI):
    consumer_no, total = demo(DISCONNECTED)
    await start_in_english(telegram_app)
    typed = f"/dues {consumer_no[:3]}\x00{consumer_no[3:]}\x00"

    response = await deliver(telegram_app, text_update(40, CHAT, typed))

    assert response.status_code == 200
    assert any(f"Total payable: {format_inr(total)}" in text
               for text in fake_telegram.texts(CHAT))


async def test_a_button_press_with_nul_in_its_callback_data_is_answered(
        telegram_app: httpx.AsyncClient, fake_telegram: FakeTelegramAPI):
    await deliver(telegram_app, text_update(41, CHAT, "/start"))

    response = await deliver(telegram_app, callback_update(42, CHAT, "lang:\x00en"))

    assert response.status_code == 200
    assert fake_telegram.texts(CHAT)[-1] == "What would you like to do?"


# --- deeply nested JSON ------------------------------------------------------------------------

async def test_100k_deep_json_to_the_telegram_webhook_is_a_400(
        telegram_app: httpx.AsyncClient):
    response = await telegram_app.post("/webhooks/telegram", content=b"[" * DEEP + b"]" * DEEP,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})

    assert response.status_code == 400


@pytest.mark.parametrize("update", [
    {"update_id": 0, "message": {"date": 0, "message_id": 0}},
    {"update_id": 1, "callback_query": {"id": "1", "chat_instance": "c", "data": "menu"}},
], ids=["message-without-chat", "button-without-sender"])
async def test_a_telegram_update_missing_its_chat_or_sender_is_a_400(
        telegram_app: httpx.AsyncClient, update: dict):
    response = await telegram_app.post("/webhooks/telegram", json=update,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})

    assert response.status_code == 400


async def test_deeply_nested_json_signed_by_the_hes_is_a_400_and_writes_nothing(
        bijli: BijliApp):
    before = await counts(bijli)
    body = b"[" * 30_000 + b"]" * 30_000  # within the 64 KB limit
    secret = bijli.services.settings.hes_webhook_secret.get_secret_value()

    response = await bijli.client.post("/webhooks/hes", content=body, headers={
        "X-HES-Signature": sign(body, secret), "Content-Type": "application/json"})

    assert response.status_code == 400
    assert await counts(bijli) == before


async def test_deeply_nested_json_as_an_ops_payment_is_a_422(bijli: BijliApp):
    body = b'{"source":' + b"[" * 30_000 + b"]" * 30_000 + b"}"

    response = await bijli.client.post("/ops/payments", content=body, headers={
        **AUTH, "X-Operator": "counter-7", "Content-Type": "application/json"})

    assert response.status_code == 422


# --- list parameters --------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "/ops/reconnections?limit=-1", "/ops/reconnections?limit=0",
    "/ops/reconnections?limit=1001", "/ops/reconnections?limit=99999999999999999999",
    "/ops/field-reconnections?days=-1", "/ops/field-reconnections?days=0",
    "/ops/field-reconnections?days=91", "/ops/field-reconnections?days=10000000000",
])
async def test_out_of_range_list_parameters_are_a_422_with_the_bounds(
        bijli: BijliApp, query: str):
    response = await bijli.client.get(query, headers=AUTH)

    assert response.status_code == 422
    assert "greater than" in response.text or "less than" in response.text


@pytest.mark.parametrize("query", ["/ops/reconnections?limit=1000",
                                   "/ops/field-reconnections?days=90"])
async def test_list_parameters_at_their_bounds_are_answered(bijli: BijliApp, query: str):
    assert (await bijli.client.get(query, headers=AUTH)).status_code == 200


# --- HES event times --------------------------------------------------------------------------

IN_2099 = datetime(2099, 1, 1, tzinfo=UTC)


async def test_a_hes_report_dated_2099_does_not_freeze_the_meter(bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    await post_hes(bijli, meter_event(consumer_no, reason="manual", event_id="evt-2099",
                                      at=IN_2099))
    assert (await meter_of(bijli, consumer_no)).relay_state == "disconnected"

    later = await post_hes(bijli, meter_event(
        consumer_no, event="relay_connected", reason="manual", event_id="evt-real",
        at=utcnow() + timedelta(seconds=1)))

    assert later.status_code == 200
    meter = await meter_of(bijli, consumer_no)
    assert meter.relay_state == "connected"
    assert meter.relay_changed_at is not None
    assert meter.relay_changed_at < utcnow() + timedelta(minutes=5)


async def test_a_meter_frozen_by_an_earlier_report_from_the_future_is_thawed_by_a_real_one(
        bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    async with bijli.db.uow() as uow:  # as left by the bug, before this fix
        await uow.session.execute(update(Meter).where(Meter.meter_id == f"SM{consumer_no}")
                                  .values(relay_state="disconnected", relay_reason="manual",
                                          relay_changed_at=IN_2099))
        await uow.commit()

    await post_hes(bijli, meter_event(consumer_no, event="relay_connected", reason="manual",
                                      event_id="evt-real"))

    assert (await meter_of(bijli, consumer_no)).relay_state == "connected"


async def test_a_hes_clock_a_little_ahead_is_still_believed(bijli: BijliApp):
    consumer_no = demo_no(SHOP)
    ahead = utcnow() + timedelta(minutes=1)

    await post_hes(bijli, meter_event(consumer_no, reason="manual", event_id="evt-1",
                                      at=ahead))

    meter = await meter_of(bijli, consumer_no)
    assert meter.relay_changed_at is not None
    assert abs(meter.relay_changed_at - ahead) < timedelta(seconds=1)

