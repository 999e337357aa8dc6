"""Finding Medium 4: the production guard lived only in the CLI.

Any ASGI server loading the app factory, and any worker start, must refuse an unfit
production configuration (sandboxes, placeholder keys, short secrets, a PUBLIC_BASE_URL
that is not https or is loopback); and in production /docs, /openapi.json and /metrics
are for staff (the ops bearer token) only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.composition import build_services
from api.worker import build_worker
from discom.notify.outbox import SMS_KINDS
from discom.settings import Settings, UnfitForProduction

STAFF_TOKEN = "s" * 40
FERNET_KEY = "pRRwz3xvDZSt3GCtwx6T3Ra9tfCLv_7W8WTQ1lm4Ibk="


def production(**changes: Any) -> Settings:
    """A production configuration that is fit, but for `changes`. Nothing here is contacted:
    the database is only connected to when a request needs it."""
    values: dict[str, Any] = {
        "bijli_env": "production", "database_url": "postgresql+asyncpg://bijli@127.0.0.1:9/bijli",
        "public_base_url": "https://bijli.discom.example", "ops_api_token": STAFF_TOKEN,
        "razorpay_key_id": "rzp_live_0123456789", "razorpay_key_secret": "k" * 24,
        "razorpay_webhook_secret": "w" * 40, "hes_base_url": "https://hes.discom.example",
        "hes_api_key": "hes-vendor-issued-key", "hes_webhook_secret": "h" * 40,
        "samagra_base_url": "https://samagra.mp.example", "samagra_api_key": "s" * 32,
        "data_encryption_key": FERNET_KEY, "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "t" * 32, "twilio_sms_from": "+15005550006",
        "twilio_dlt_template_ids": {kind: "1107000000000000001"
                                    for kind in ("otp", "mobile_changed", *SMS_KINDS)},
    }
    return Settings(_env_file=None, **{**values, **changes})


def test_the_fit_production_configuration_of_these_tests_is_fit():
    assert production().production_problems() == []


UNFIT = {
    "payment-sandbox": ({"razorpay_key_id": None}, "RAZORPAY_KEY_ID"),
    "hes-simulator": ({"hes_base_url": None}, "HES_BASE_URL"),
    "samagra-simulator": ({"samagra_base_url": None}, "SAMAGRA_BASE_URL"),
    "simulator-key": ({"hes_api_key": "hes-simulator-key"}, "HES_API_KEY"),
    "short-ops-token": ({"ops_api_token": "ops-test-token"}, "OPS_API_TOKEN"),
    "short-razorpay-secret": ({"razorpay_webhook_secret": "w" * 31},
                              "RAZORPAY_WEBHOOK_SECRET"),
    "short-hes-secret": ({"hes_webhook_secret": "secret"}, "HES_WEBHOOK_SECRET"),
    "http-url": ({"public_base_url": "http://bijli.discom.example"}, "PUBLIC_BASE_URL"),
    "localhost-url": ({"public_base_url": "https://localhost:8443"}, "PUBLIC_BASE_URL"),
    "loopback-ip-url": ({"public_base_url": "https://127.0.0.2"}, "PUBLIC_BASE_URL"),
    "loopback-v6-url": ({"public_base_url": "https://[::1]:8000"}, "PUBLIC_BASE_URL"),
}


@pytest.mark.parametrize(("change", "named"), UNFIT.values(), ids=UNFIT.keys())
def test_the_app_factory_refuses_an_unfit_production_configuration(
        change: dict[str, Any], named: str):
    with pytest.raises(UnfitForProduction) as refused:
        create_app(production(**change))

    assert any(named in problem for problem in refused.value.problems)


def test_the_app_factory_refuses_the_embedded_defaults_in_production():
    with pytest.raises(UnfitForProduction):
        create_app(Settings(_env_file=None, bijli_env="production"))


async def test_a_worker_refuses_to_start_on_an_unfit_production_configuration(
        database_url: str):
    # The sandbox and the simulator, but an encryption key (without one, wiring already fails).
    settings = Settings(_env_file=None, bijli_env="production", database_url=database_url,
                        data_encryption_key=FERNET_KEY)
    services = build_services(settings, role="worker")
    try:
        with pytest.raises(UnfitForProduction):
            build_worker(services)
    finally:
        await services.close()


# --- what describes and measures the service ------------------------------------------------

@pytest.fixture
async def production_app() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(production())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://bijli.discom.example") as client:
            yield client
    finally:
        await app.state.services.close()


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/metrics", "/redoc"])
async def test_in_production_docs_schema_and_metrics_are_refused_to_strangers(
        production_app: httpx.AsyncClient, path: str):
    response = await production_app.get(path)

    assert response.status_code in (401, 404)
    assert "swagger" not in response.text.lower()
    assert "/ops/payments" not in response.text


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/metrics"])
async def test_in_production_staff_with_the_ops_token_get_docs_schema_and_metrics(
        production_app: httpx.AsyncClient, path: str):
    response = await production_app.get(path, headers={
        "Authorization": f"Bearer {STAFF_TOKEN}"})

    assert response.status_code == 200


async def test_in_production_the_schema_staff_get_describes_the_ops_api(
        production_app: httpx.AsyncClient):
    response = await production_app.get("/openapi.json", headers={
        "Authorization": f"Bearer {STAFF_TOKEN}"})

    assert "/ops/payments" in response.json()["paths"]


async def test_in_production_healthz_stays_open_for_the_load_balancer(
        production_app: httpx.AsyncClient):
    assert (await production_app.get("/healthz")).status_code == 200


async def test_outside_production_the_docs_stay_open(database_url: str):
    app = create_app(Settings(_env_file=None, bijli_env="development",
                              database_url=database_url))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bijli.test") as client:
            assert (await client.get("/openapi.json")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await app.state.services.close()
