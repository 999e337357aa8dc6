"""How OTPs and KYC notices reach a mobile: the `OtpSender` interface and the sandbox.

Three implementations:

- `SandboxSender` (the embedded default, Twilio not configured): nothing is sent. The text is
  written to the server log marked SANDBOX and handed back, so the console channel can show
  it; with `BIJLI_ENV=production` the text (and so the code) is never logged.
- `TwilioSmsSender` (`discom.kyc.twilio_sender`): Bijli makes the code and Twilio's
  Messages API sends the SMS.
- `TwilioVerifySender` (same module): Twilio Verify makes, sends and checks the code;
  `provider_checks` is then True and Bijli stores no code hash.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import structlog

from discom.identifiers import mask_mobile

log = structlog.get_logger(__name__)

# SMS kinds: each is one DLT content template in India (TWILIO_DLT_TEMPLATE_IDS).
SMS_KINDS = ("otp",)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An SMS (or Verify verification) the provider accepted."""

    provider_ref: str | None  # Twilio's SM… or VE… sid
    # The text as it would have been sent, when nothing was really sent (the sandbox).
    sandbox_text: str | None = None


class SendFailed(Exception):
    """The provider did not take the message. `permanent`: retrying will not help (an invalid
    or landline number, a refused sender); otherwise (timeout, 5xx, 429) try again later.
    The message names the provider's error code, never the number or the text."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class OtpSender(Protocol):
    """Sends OTPs and KYC notices to a mobile (E.164)."""

    # True when the provider makes and checks the codes (Twilio Verify).
    provider_checks: bool

    async def send_code(self, to: str, code: str | None, text: str, language: str
                        ) -> Delivery:
        """Send an OTP. `code` and `text` (which contains it) are Bijli's; with
        `provider_checks` the code is None and the provider writes its own message."""
        ...

    async def check_code(self, to: str, code: str) -> bool:
        """Only with `provider_checks`: whether `code` is the provider's pending code."""
        ...

    async def send_sms(self, to: str, text: str, kind: str) -> Delivery:
        """A plain SMS of one of `SMS_KINDS` (KYC notices now go through the outbox)."""
        ...

    def close(self) -> None: ...


class SandboxSender:
    """Sends nothing: logs the text marked SANDBOX (never in production) and hands it back."""

    provider_checks = False

    def __init__(self, *, log_texts: bool) -> None:
        self._log_texts = log_texts

    async def send_code(self, to: str, code: str | None, text: str, language: str
                        ) -> Delivery:
        return self._deliver(to, text, "otp")

    async def check_code(self, to: str, code: str) -> bool:
        raise NotImplementedError("the sandbox never checks codes: Bijli does")

    async def send_sms(self, to: str, text: str, kind: str) -> Delivery:
        return self._deliver(to, text, kind)

    def _deliver(self, to: str, text: str, kind: str) -> Delivery:
        ref = f"sandbox-{uuid.uuid4().hex[:16]}"
        if self._log_texts:
            log.warning("SANDBOX SMS, not sent (Twilio is not configured)", kind=kind,
                        to=mask_mobile(to), ref=ref, text=text)
        else:
            log.warning("SANDBOX SMS, not sent; its text is never logged in production",
                        kind=kind, ref=ref)
        return Delivery(ref, sandbox_text=text)

    def close(self) -> None:
        return None
