"""Use case: at deploy time the operator registers the webhook and the bot's command menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.fakes.telegram_api import FakeTelegramAPI

SECRET = "deploy-secret_42"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_telegram: FakeTelegramAPI
        ) -> pytest.MonkeyPatch:
    """Telegram configured through the environment, as in production; no stray .env read."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake_telegram.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_telegram.base_url)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bijli.example.in/")
    monkeypatch.setenv("DEFAULT_LANGUAGE", "hi")
    return monkeypatch


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_set_webhook_registers_our_url_with_the_secret_and_sets_the_menus(
    env: pytest.MonkeyPatch, fake_telegram: FakeTelegramAPI
):
    result = run("telegram", "set-webhook")
    assert result.exit_code == 0, result.output
    [webhook] = fake_telegram.calls("setWebhook")
    assert webhook.params == {
        "url": "https://bijli.example.in/webhooks/telegram", "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"], "drop_pending_updates": False}
    menus = {call.params.get("language_code"): call.params["commands"]
             for call in fake_telegram.calls("setMyCommands")}
    assert set(menus) == {"hi", "en", None}
    assert [c["command"] for c in menus["en"]] == [
        "start", "dues", "pay", "status", "kyc", "language", "help", "cancel"]
    assert menus["en"][1]["description"].startswith("Check dues")
    assert menus["hi"][1]["description"].startswith("बकाया देखें")
    assert menus[None] == menus["hi"]  # the deployment's default language for everyone else


def test_set_webhook_takes_an_explicit_url(env: pytest.MonkeyPatch,
                                           fake_telegram: FakeTelegramAPI):
    result = run("telegram", "set-webhook", "--url", "https://edge.example.in/tg")
    assert result.exit_code == 0, result.output
    assert fake_telegram.calls("setWebhook")[0].params["url"] == "https://edge.example.in/tg"


def test_telegrams_refusal_is_reported_with_a_failing_exit_code(
    env: pytest.MonkeyPatch, fake_telegram: FakeTelegramAPI
):
    result = run("telegram", "set-webhook", "--url", "http://127.0.0.1:8000/webhooks/telegram")
    assert result.exit_code == 1
    assert "https url must be provided" in result.output.lower()
    assert fake_telegram.calls("setMyCommands") == []


def test_set_webhook_needs_the_webhook_secret(env: pytest.MonkeyPatch,
                                              fake_telegram: FakeTelegramAPI):
    env.delenv("TELEGRAM_WEBHOOK_SECRET")
    result = run("telegram", "set-webhook")
    assert result.exit_code == 2
    assert "TELEGRAM_WEBHOOK_SECRET is unset" in result.output
    assert fake_telegram.calls() == []


def test_delete_webhook_keeps_pending_updates(env: pytest.MonkeyPatch,
                                              fake_telegram: FakeTelegramAPI):
    result = run("telegram", "delete-webhook")
    assert result.exit_code == 0, result.output
    [call] = fake_telegram.calls("deleteWebhook")
    assert call.params == {"drop_pending_updates": False}
