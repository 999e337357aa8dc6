"""Building the KYC services from settings (called by the composition root, `api/`).

Which OTP sender: Twilio Verify when TWILIO_VERIFY_SERVICE_SID is set (with Twilio
credentials), Twilio SMS when TWILIO_SMS_FROM is set, otherwise the sandbox (the embedded
default; production refuses it, `Settings.production_problems`).
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from discom.kyc import KycServices
from discom.kyc.otp import OtpPolicy, OtpService
from discom.kyc.samagra import HttpSamagraRegistry, SamagraRegistry
from discom.kyc.samagra_simulator import SimulatedRegistry
from discom.kyc.senders import OtpSender, SandboxSender
from discom.kyc.twilio_sender import TwilioSms, TwilioSmsSender, TwilioVerifySender, twilio_client
from discom.kyc.vault import PiiVault, vault_from_settings
from discom.settings import Settings

log = structlog.get_logger(__name__)


def otp_policy(settings: Settings) -> OtpPolicy:
    return OtpPolicy(lifetime=timedelta(minutes=settings.otp_lifetime_minutes),
                     max_tries=settings.otp_max_tries,
                     resend_after=timedelta(seconds=settings.otp_resend_after_seconds),
                     max_sends_per_hour=settings.otp_max_sends_per_hour)


def otp_sender(settings: Settings) -> OtpSender:
    production = settings.bijli_env == "production"
    if settings.uses_otp_sandbox:
        if settings.uses_twilio:
            log.warning("Twilio is configured but neither TWILIO_SMS_FROM nor "
                        "TWILIO_VERIFY_SERVICE_SID is set: OTPs go to the sandbox")
        return SandboxSender(log_texts=not production)
    assert settings.twilio_account_sid and settings.twilio_auth_token
    timeout = settings.twilio_timeout_seconds
    client = twilio_client(
        settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
        api_base_url=settings.twilio_api_base_url,
        verify_base_url=settings.twilio_verify_base_url, timeout=timeout)
    sms = (TwilioSms(client, settings.twilio_sms_from, timeout=timeout,
                     dlt_template_ids=settings.twilio_dlt_template_ids)
           if settings.twilio_sms_from else None)
    if settings.twilio_verify_service_sid:
        return TwilioVerifySender(client, settings.twilio_verify_service_sid, timeout=timeout,
                                  sms=sms, template_sid=settings.twilio_verify_template_sid)
    assert sms is not None
    return TwilioSmsSender(client, sms)


def kyc_vault(settings: Settings) -> PiiVault:
    return vault_from_settings(
        settings.data_encryption_key.get_secret_value() if settings.data_encryption_key else None,
        settings.database_url, production=settings.bijli_env == "production")


def kyc_services(settings: Settings) -> KycServices:
    vault = kyc_vault(settings)
    return KycServices(vault=vault, otp=OtpService(otp_sender(settings), vault,
                                                   otp_policy(settings)),
                       registry=samagra_registry(settings))


def samagra_registry(settings: Settings) -> SamagraRegistry:
    """The state registry when SAMAGRA_BASE_URL is set, else the simulator (the embedded
    default; production refuses it, `Settings.production_problems`)."""
    if settings.samagra_base_url is None:
        return SimulatedRegistry()
    key = settings.samagra_api_key.get_secret_value() if settings.samagra_api_key else ""
    return HttpSamagraRegistry(settings.samagra_base_url, key,
                               timeout=settings.samagra_timeout_seconds)
