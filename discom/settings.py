"""The one settings class. Every value comes from the environment (or `.env`).

Defaults are the *embedded default*: SQLite, the payment sandbox and the HES simulator in one
process, so `make run` works on a laptop with nothing configured. `BIJLI_ENV=production`
refuses those defaults (see `Settings.production_problems`).
"""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SANDBOX_RAZORPAY_WEBHOOK_SECRET = "sandbox-razorpay-webhook-secret"  # noqa: S105 - placeholder
SIMULATOR_HES_API_KEY = "hes-simulator-key"
SIMULATOR_HES_WEBHOOK_SECRET = "hes-simulator-webhook-secret"  # noqa: S105 - placeholder
MIN_SECRET_CHARS = 32
# The secrets the discom chooses itself (provider-issued keys such as RAZORPAY_KEY_SECRET or
# HES_API_KEY come as the provider makes them): each must be long enough not to be guessed.
CHOSEN_SECRETS = ("ops_api_token", "razorpay_webhook_secret", "hes_webhook_secret",
                  "telegram_webhook_secret")


class UnfitForProduction(RuntimeError):
    """BIJLI_ENV=production with a configuration that must not run in production."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("refusing to start in production: " + "; ".join(problems))
        self.problems = problems


def refuse_unfit_production(settings: Settings) -> None:
    """Raise UnfitForProduction when BIJLI_ENV=production and the configuration is unfit.
    Every way in calls this: the app factory (any ASGI server), the worker and the CLI."""
    if settings.bijli_env == "production":
        problems = settings.production_problems()
        if problems:
            raise UnfitForProduction(problems)


def _hh_mm(text: str) -> tuple[int, int]:
    """"21:30" → (21, 30); ValueError otherwise."""
    hours, separator, minutes = text.strip().partition(":")
    if not (separator and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and 0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59):
        raise ValueError(f"not a time of day HH:MM: {text!r}")
    return int(hours), int(minutes)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    # Empty values (as in a copied .env.example) count as unset.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, env_ignore_empty=True
    )

    bijli_env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./bijli.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_pool_overflow: int = Field(default=0, ge=0)
    database_pool_pre_ping: bool = False
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

    razorpay_timeout_seconds: float = Field(default=8.0, gt=0, le=30)
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

    # KYC by OTP (discom/kyc): a code lives `otp_lifetime_minutes`, takes `otp_max_tries` wrong
    # guesses before it is locked, may be re-sent after `otp_resend_after_seconds`, and at most
    # `otp_max_sends_per_hour` codes go to one consumer, and from one chat, in any hour.
    otp_lifetime_minutes: int = Field(default=10, ge=1, le=60)
    otp_max_tries: int = Field(default=5, ge=1, le=20)
    otp_resend_after_seconds: int = Field(default=60, ge=0, le=3600)
    otp_max_sends_per_hour: int = Field(default=3, ge=1, le=100)
    # Twilio calls are blocking (requests): each runs in a thread and is given up after this.
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Verify lives on its own host; tests point it at the same fake as TWILIO_API_BASE_URL.
    twilio_verify_base_url: str = "https://verify.twilio.com"
    # An approved Verify template (HX...) whose text carries the "never share" warning.
    twilio_verify_template_sid: str | None = None
    # DLT content-template ids per SMS kind ("otp" and the notifications'), as registered on the
    # DLT portal and with Twilio. JSON, e.g. {"otp": "1107...", "bank_account_changed": "1107..."}.
    twilio_dlt_template_ids: dict[str, str] = {}

    # WhatsApp and SMS notifications (bot/channels/whatsapp.py, sms.py; discom/notify).
    # Approved WhatsApp templates, used outside the 24-hour customer-service window: per
    # notification kind and language, a Content SID (HX...). JSON, e.g.
    # {"bill_due": {"hi": "HX...", "en": "HX..."}}. A kind without one goes to the next channel
    # of the consumer's fallback chain (in the end SMS). Template variables: NOTIFY_VARIABLES
    # in bot/notifications.py.
    twilio_whatsapp_templates: dict[str, dict[str, str]] = {}
    # Provider limits the notification senders pace themselves to, across all worker
    # processes (one sender per channel holds a lease in the database). Telegram allows 30
    # messages/s per bot: the default leaves 5/s for replies sent by the API processes.
    telegram_rate_per_second: float = Field(default=25.0, gt=0, le=1000)
    telegram_per_chat_seconds: float = Field(default=1.0, ge=0, le=60)
    whatsapp_rate_per_second: float = Field(default=10.0, gt=0, le=1000)
    # SMS is paced in segments (what Twilio's queues count), not messages.
    sms_rate_per_second: float = Field(default=10.0, gt=0, le=1000)
    # How long a channel sender's lease lasts unless renewed; a dead sender's channel is taken
    # over by another worker after at most this.
    channel_lease_seconds: float = Field(default=15.0, ge=3, le=600)
    # Reminders (discom/reminders.py): "bill due" goes this many days before the due date; the
    # overdue notice gives this many clear days before disconnection (Electricity Act s.56(1));
    # the worker enqueues both daily at `reminder_daily_at` IST ("" = no daily run, the
    # default: `bijli remind` from cron, or set e.g. "10:00"); none is sent in
    # `reminder_quiet_hours` IST ("HH:MM-HH:MM", "" = none). Event notifications (payment
    # received, supply restored...) are never held back.
    reminder_due_within_days: int = Field(default=3, ge=0, le=30)
    disconnection_notice_days: int = Field(default=15, ge=1, le=90)
    reminder_daily_at: str = ""
    reminder_quiet_hours: str = "21:00-09:00"
    # The Samagra registry (discom/kyc/samagra.py, ARCHITECTURE.md "Samagra registry
    # connector"). Unset SAMAGRA_BASE_URL: the in-process simulator (refused in production).
    samagra_base_url: str | None = None
    samagra_api_key: SecretStr | None = None
    samagra_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # Consumer numbers looked up (dues, status, pay, KYC) per hour: from one chat, and for one
    # consumer from all chats together (so guessing is bounded per account, not per chat).
    lookups_per_chat_per_hour: int = Field(default=20, ge=1, le=1000)
    lookups_per_consumer_per_hour: int = Field(default=10, ge=1, le=1000)
    # How long OTP challenges and mobile-change records (which hold mobile numbers) are kept.
    otp_retention_days: int = Field(default=30, ge=1, le=3650)
    mobile_change_retention_days: int = Field(default=365, ge=1, le=3650)

    # Hostile input and reliability (api/limits.py, discom/db.py, api/routers/health.py).
    # Bytes a request body may have; a few routes allow more (the Telegram webhook 1 MB, the
    # Razorpay webhook 256 KB: api/app.py). Past it the request is answered 413 unread.
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # A database that accepts connections but never answers must not hold a request for
    # minutes: connecting gives up after this, and a statement after the next one.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # HES event times more than this ahead of now are not trusted for ordering (a meter
    # clock in 2099 would freeze the meter): such events are ordered by when they arrived.
    hes_event_max_future_seconds: int = Field(default=300, ge=0, le=7 * 24 * 3600)
    # The largest payment `POST /ops/payments` takes (paise); more is refused, not credited.
    ops_payment_max_paise: int = Field(default=10**8, ge=100, le=10**12)

    @field_validator("reminder_daily_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if value.strip():
            _hh_mm(value)
        return value.strip()

    @field_validator("reminder_quiet_hours")
    @classmethod
    def _time_range(cls, value: str) -> str:
        if value.strip():
            start, separator, end = value.partition("-")
            if not separator:
                raise ValueError("quiet hours are HH:MM-HH:MM, e.g. 21:00-09:00")
            _hh_mm(start), _hh_mm(end)
        return value.strip()

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

    @property
    def uses_twilio(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def uses_otp_sandbox(self) -> bool:
        """OTPs only logged (and shown on the console): Twilio can neither send nor verify."""
        return not self.uses_twilio or not (self.twilio_verify_service_sid
                                            or self.twilio_sms_from)

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
        problems += self._otp_problems()
        if self.samagra_base_url is None:
            problems.append("SAMAGRA_BASE_URL is unset: the Samagra simulator cannot run in "
                            "production")
        elif self.samagra_api_key is None:
            problems.append("SAMAGRA_API_KEY is unset")
        problems += self._messaging_problems()
        problems += self._secret_length_problems()
        problems += self._public_url_problems()
        return problems

    def _secret_length_problems(self) -> list[str]:
        problems = []
        for name in CHOSEN_SECRETS:
            value: SecretStr | None = getattr(self, name)
            if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
                problems.append(f"{name.upper()} is shorter than {MIN_SECRET_CHARS} characters")
        return problems

    def _public_url_problems(self) -> list[str]:
        parts = urlsplit(self.public_base_url)
        problems = []
        if parts.scheme != "https":
            problems.append("PUBLIC_BASE_URL is not https: providers post webhooks there and "
                            "consumers open payment pages there")
        if _is_loopback(parts.hostname or ""):
            problems.append("PUBLIC_BASE_URL is a loopback address: nobody outside can reach it")
        return problems

    def _messaging_problems(self) -> list[str]:
        from discom.notify.outbox import SMS_KINDS

        if not (self.uses_twilio and self.twilio_sms_from):
            return []
        missing = [kind for kind in SMS_KINDS if not self.twilio_dlt_template_ids.get(kind)]
        if not missing:
            return []
        return [f"TWILIO_DLT_TEMPLATE_IDS lacks {', '.join(missing)}: those notifications "
                "and SMS answers would not be sent by SMS"]

    def _otp_problems(self) -> list[str]:
        from discom.kyc.vault import KeyProblem, parse_keys

        problems = []
        if self.data_encryption_key is not None:
            try:
                parse_keys(self.data_encryption_key.get_secret_value())
            except KeyProblem as problem:
                problems.append(str(problem))
        if self.uses_otp_sandbox:
            problems.append("Twilio (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM or "
                            "TWILIO_VERIFY_SERVICE_SID) is unset: OTPs would go to the sandbox")
            return problems
        # The registered mobile is told of a bank-account change by plain SMS, even with Verify.
        if not self.twilio_sms_from:
            problems.append("TWILIO_SMS_FROM is unset: no SMS to tell the registered mobile "
                            "of a bank-account change")
        kinds = () if self.twilio_verify_service_sid else ("otp",)
        missing = [kind for kind in kinds if not self.twilio_dlt_template_ids.get(kind)]
        if missing:
            problems.append(f"TWILIO_DLT_TEMPLATE_IDS lacks {', '.join(missing)}: Indian "
                            "operators block SMS without a registered DLT template")
        return problems
