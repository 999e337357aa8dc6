"""Building the worker from the wired services: `bijli worker`, and `bijli serve` in-process.

Telegram, WhatsApp and SMS each get a paced sender of their own (a loop beside the job loop,
sending only while this process holds the channel's lease: discom/notify/pacing.py); the
console, which delivers its own, and any `extra_messengers` go through the unpaced outbox
job. The daily reminder run is another loop (REMINDER_DAILY_AT).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.engine import make_url

from api.composition import Services, worker_name
from bot.channels.messengers import TelegramMessenger
from discom.clock import utcnow
from discom.housekeeping import prune_inbound_events, prune_personal_data, prune_recent_lookups
from discom.notify.pacing import ChannelLease, Pacer
from discom.notify.sender import Messenger, OutboxSender
from discom.payments.link_requests import prune_link_requests
from discom.payments.reconciler import reconcile_open_links
from discom.payments.settled_links import cancel_settled_links
from discom.reconnection.driver import ReconnectionDriver
from discom.reconnection.sweep import sweep
from discom.reminders import DailyReminders, QuietHours, ReminderPolicy
from discom.settings import Settings, refuse_unfit_production
from discom.worker.runner import Loop, Periodic, Worker
from discom.worker.wakeup import MESSAGES, ORDERS


def messengers(services: Services) -> dict[str, Messenger]:
    """The channels this worker delivers on. Console chats deliver their own."""
    found: dict[str, Messenger] = {}
    if services.telegram is not None:
        found["telegram"] = TelegramMessenger(services.telegram.bot)
    found.update(services.messaging.messengers())
    return found


def pacer_for(settings: Settings, channel: str) -> Pacer:
    """The provider's limits for `channel`, from settings."""
    if channel == "telegram":
        return Pacer(settings.telegram_rate_per_second, settings.telegram_per_chat_seconds)
    if channel == "whatsapp":
        return Pacer(settings.whatsapp_rate_per_second)
    return Pacer(settings.sms_rate_per_second)


def quiet_hours(settings: Settings) -> QuietHours | None:
    return QuietHours.parse(settings.reminder_quiet_hours)


def channel_senders(services: Services, owner: str) -> list[OutboxSender]:
    """One paced, leased sender per provider channel this deployment delivers on."""
    settings = services.settings
    quiet = quiet_hours(settings)
    lease = timedelta(seconds=settings.channel_lease_seconds)
    return [
        OutboxSender(services.db, {channel: messenger}, gateway=services.gateway,
                     link_settings=services.link_settings, pacer=pacer_for(settings, channel),
                     channel_lease=ChannelLease(services.db, f"send:{channel}", owner, lease),
                     hold_reminders=quiet.contains if quiet else None)
        for channel, messenger in messengers(services).items()
    ]


def reminder_policy(settings: Settings, due_within_days: int | None = None) -> ReminderPolicy:
    return ReminderPolicy(
        due_within_days=settings.reminder_due_within_days if due_within_days is None
        else due_within_days,
        notice_days=settings.disconnection_notice_days, quiet=quiet_hours(settings))


def build_worker(services: Services, extra_messengers: dict[str, Messenger] | None = None
                 ) -> Worker:
    settings = services.settings
    refuse_unfit_production(settings)  # also when embedded by something other than the CLI
    # Each worker its own lease owner, also when one process runs several.
    owner = f"{worker_name()}:{secrets.token_hex(3)}"
    driver = ReconnectionDriver(
        services.db, services.hes, services.driver_config, owner,
        rejected=services.hes_rejected, unavailable=services.hes_unavailable,
        rng=services.rng)
    quiet = quiet_hours(settings)
    outbox = OutboxSender(services.db, dict(extra_messengers or {}),
                          gateway=services.gateway, link_settings=services.link_settings,
                          hold_reminders=quiet.contains if quiet else None)
    loops: list[Loop] = list(channel_senders(services, owner))
    if settings.reminder_daily_at:
        loops.append(DailyReminders(services.db, reminder_policy(settings),
                                    services.messaging.routing, owner,
                                    daily_at=settings.reminder_daily_at))

    async def sweep_now() -> int:
        return await sweep(services.db, utcnow())

    async def check_links() -> int:
        # Recover lost payments first: a paid link must be credited, never cancelled.
        recovered = await reconcile_open_links(
            services.db, services.gateway, utcnow(),
            after=timedelta(minutes=settings.payment_link_check_after_minutes),
            unavailable=services.gateway_errors)
        return recovered + await cancel_settled_links(
            services.db, services.gateway, utcnow(), failures=services.gateway_errors)

    async def prune() -> int:
        await prune_inbound_events(services.db, utcnow())
        await prune_link_requests(services.db, utcnow())
        await prune_recent_lookups(services.db, utcnow())
        await prune_personal_data(services.db, settings, utcnow())
        return 0  # housekeeping is never a reason to skip the next sleep

    jobs = [
        Periodic("reconnection", driver.run_due, batch=services.driver_config.batch,
                 wakes_on=ORDERS),
        Periodic("outbox", outbox.run_due, wakes_on=MESSAGES),
        Periodic("sweep", sweep_now, every=settings.sweep_interval_seconds),
        Periodic("payment-links", check_links, every=60.0),
        Periodic("housekeeping", prune, every=3600.0),
    ]
    return Worker(jobs, services.wakeup, poll=settings.worker_poll_seconds, loops=loops)


async def listen_for_work(services: Services) -> None:
    """On PostgreSQL, other processes' commits wake this worker (LISTEN/NOTIFY)."""
    if services.db.dialect == "postgresql":
        url = make_url(services.settings.database_url).set(drivername="postgresql")
        await services.wakeup.listen_postgres(
            url.render_as_string(hide_password=False),
            connect_timeout=services.settings.database_connect_timeout_seconds)
