"""The one settings class. Every value comes from the environment (or `.env`).

Defaults are the *embedded default*: SQLite, the payment sandbox and the HES simulator in one
process, so `make run` works on a laptop with nothing configured. `BIJLI_ENV=production`
refuses those defaults (see `Settings.production_problems`).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SANDBOX_RAZORPAY_WEBHOOK_SECRET = "sandbox-razorpay-webhook-secret"  # noqa: S105 - placeholder
SIMULATOR_HES_API_KEY = "hes-simulator-key"
SIMULATOR_HES_WEBHOOK_SECRET = "hes-simulator-webhook-secret"  # noqa: S105 - placeholder


class Settings(BaseSettings):
    # Empty values (as in a copied .env.example) count as unset.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True
    )

    bijli_env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./bijli.db"
    public_base_url: str = "http://127.0.0.1:8000"
    default_language: Literal["hi", "en"] = "hi"
    log_level: str = "INFO"

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_secret: SecretStr | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_whatsapp_from: str | None = None
    twilio_sms_from: str | None = None
    twilio_verify_service_sid: str | None = None

    razorpay_key_id: str | None = None
    razorpay_key_secret: SecretStr | None = None
    razorpay_api_base_url: str | None = None
    razorpay_webhook_secret: SecretStr = SecretStr(SANDBOX_RAZORPAY_WEBHOOK_SECRET)

    hes_base_url: str | None = None
    hes_api_key: SecretStr = SecretStr(SIMULATOR_HES_API_KEY)
    hes_webhook_secret: SecretStr = SecretStr(SIMULATOR_HES_WEBHOOK_SECRET)

    data_encryption_key: SecretStr | None = None
    ops_api_token: SecretStr | None = None

    payment_link_lifetime_hours: int = Field(default=24, ge=1, le=24 * 180)
    payment_link_check_after_minutes: int = Field(default=10, ge=1)
    disconnection_charges_paise: dict[str, int] = {"default": 15_000}
    reconnection_charges_paise: dict[str, int] = {"default": 15_000}

    reconnect_deadline_minutes: int = Field(default=15, ge=1)
    hes_poll_seconds: float = Field(default=15.0, gt=0)
    hes_timeout_seconds: float = Field(default=5.0, gt=0)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    hes_simulator_latency_seconds: float = Field(default=2.0, ge=0)
    hes_simulator_failure_rate: float = Field(default=0.0, ge=0, le=1)
    hes_simulator_ready_mode: bool = False

    conversation_timeout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_message_chars: int = Field(default=500, ge=50, le=4096)

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 characters of A-Z a-z 0-9 _ - and refuses set_webhook otherwise.
        if value is not None and not _TELEGRAM_SECRET.match(value.get_secret_value()):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 of A-Z a-z 0-9 _ -")
        return value

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_payment_sandbox(self) -> bool:
        return self.razorpay_key_id is None

    @property
    def uses_hes_simulator(self) -> bool:
        return self.hes_base_url is None

    def production_problems(self) -> list[str]:
        """What makes this configuration unfit for production (empty when it is fit)."""
        problems = []
        if self.uses_payment_sandbox:
            problems.append("RAZORPAY_KEY_ID is unset: no payment sandbox in production")
        if self.razorpay_webhook_secret.get_secret_value() == SANDBOX_RAZORPAY_WEBHOOK_SECRET:
            problems.append("RAZORPAY_WEBHOOK_SECRET is the sandbox placeholder")
        if self.uses_hes_simulator:
            problems.append("HES_BASE_URL is unset: the HES simulator cannot run in production")
        if self.hes_api_key.get_secret_value() == SIMULATOR_HES_API_KEY:
            problems.append("HES_API_KEY is the simulator placeholder")
        if self.hes_webhook_secret.get_secret_value() == SIMULATOR_HES_WEBHOOK_SECRET:
            problems.append("HES_WEBHOOK_SECRET is the simulator placeholder")
        if self.data_encryption_key is None:
            problems.append("DATA_ENCRYPTION_KEY is unset")
        if self.telegram_bot_token and not self.telegram_webhook_secret:
            problems.append("TELEGRAM_WEBHOOK_SECRET is unset: production Telegram runs by webhook")
        if self.is_sqlite:
            problems.append("DATABASE_URL is SQLite: production runs on PostgreSQL")
        return problems
