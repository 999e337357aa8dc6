"""Wiring of the Twilio channels (WhatsApp, SMS) and of notification routing, for the
composition root (`api.composition.build_services`).

With TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN set, `TWILIO_WHATSAPP_FROM` turns WhatsApp on
and `TWILIO_SMS_FROM` turns SMS on (inbound keywords and the SMS fallback of notifications).
The deliverable channels decide how notifications are routed (discom/notify/routing.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels.media import QrLinks
from bot.channels.sms import SmsChannel, SmsMessenger
from bot.channels.whatsapp import WhatsAppChannel, WhatsAppMessenger
from bot.dialog.deps import DialogDeps
from bot.dialog.engine import DialogService
from discom.db import Database
from discom.notify.routing import DEFAULT_ROUTING, Routing, configure_routing
from discom.notify.sender import Messenger
from discom.notify.twilio_messages import TwilioMessages
from discom.settings import Settings
from discom.worker.wakeup import Wakeup

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


@dataclass
class Messaging:
    twilio: TwilioMessages | None = None
    whatsapp: WhatsAppChannel | None = None
    sms: SmsChannel | None = None
    qr_links: QrLinks | None = None
    whatsapp_messenger: WhatsAppMessenger | None = None
    sms_messenger: SmsMessenger | None = None
    routing: Routing = DEFAULT_ROUTING

    def messengers(self) -> dict[str, Messenger]:
        found: dict[str, Messenger] = {}
        if self.whatsapp_messenger is not None:
            found["whatsapp"] = self.whatsapp_messenger
        if self.sms_messenger is not None:
            found["sms"] = self.sms_messenger
        return found

    async def close(self) -> None:
        if self.twilio is not None:
            await self.twilio.close()


def deliverable_channels(settings: Settings) -> frozenset[str]:
    channels = {"console"}
    if settings.telegram_bot_token is not None:
        channels.add("telegram")
    if settings.uses_twilio and settings.twilio_whatsapp_from:
        channels.add("whatsapp")
    if settings.uses_twilio and settings.twilio_sms_from:
        channels.add("sms")
    return frozenset(channels)


def build_messaging(settings: Settings, db: Database, dialog: DialogService, deps: DialogDeps,
                    wakeup: Wakeup) -> Messaging:
    """The Twilio channels these settings turn on, and the routing of notifications (set on
    `db`)."""
    channels = deliverable_channels(settings)
    routing = Routing(channels=channels, sms_fallback="sms" in channels,
                      default_language=settings.default_language)
    configure_routing(db, routing)
    if not settings.uses_twilio or not ({"whatsapp", "sms"} & channels):
        return Messaging(routing=routing)
    assert settings.twilio_account_sid and settings.twilio_auth_token
    token = settings.twilio_auth_token.get_secret_value()
    twilio = TwilioMessages(
        settings.twilio_account_sid, token, api_base_url=settings.twilio_api_base_url,
        status_callback=settings.public_base_url.rstrip("/") + STATUS_CALLBACK_PATH,
        timeout=settings.twilio_timeout_seconds)
    messaging = Messaging(twilio=twilio, routing=routing)
    if "whatsapp" in channels:
        assert settings.twilio_whatsapp_from
        messaging.qr_links = QrLinks(token, settings.public_base_url)
        messaging.whatsapp = WhatsAppChannel(dialog, db, wakeup)
        messaging.whatsapp_messenger = WhatsAppMessenger(
            twilio, settings.twilio_whatsapp_from, settings.twilio_whatsapp_templates,
            messaging.qr_links)
    if "sms" in channels:
        assert settings.twilio_sms_from
        messaging.sms = SmsChannel(db, deps, wakeup, default_language=settings.default_language)
        messaging.sms_messenger = SmsMessenger(twilio, settings.twilio_sms_from,
                                               settings.twilio_dlt_template_ids)
    return messaging
