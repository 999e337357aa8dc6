"""Building the worker from the wired services: `bijli worker`, and `bijli serve` in-process."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import make_url

from api.composition import Services, worker_name
from bot.channels.messengers import TelegramMessenger
from discom.clock import utcnow
from discom.housekeeping import prune_inbound_events
from discom.notify.sender import Messenger, OutboxSender
from discom.payments.reconciler import reconcile_open_links
from discom.reconnection.driver import ReconnectionDriver
from discom.reconnection.sweep import sweep
from discom.worker.runner import Periodic, Worker


def messengers(services: Services) -> dict[str, Messenger]:
    """The channels this worker delivers on. Console chats deliver their own."""
    found: dict[str, Messenger] = {}
    if services.telegram is not None:
        found["telegram"] = TelegramMessenger(services.telegram.bot)
    return found


def build_worker(services: Services, extra_messengers: dict[str, Messenger] | None = None
                 ) -> Worker:
    settings = services.settings
    driver = ReconnectionDriver(
        services.db, services.hes, services.driver_config, worker_name(),
        rejected=services.hes_rejected, unavailable=services.hes_unavailable,
        rng=services.rng)
    outbox = OutboxSender(services.db, {**messengers(services), **(extra_messengers or {})},
                          gateway=services.gateway, link_settings=services.link_settings)

    async def sweep_now() -> int:
        return await sweep(services.db, utcnow())

    async def check_links() -> int:
        return await reconcile_open_links(
            services.db, services.gateway, utcnow(),
            after=timedelta(minutes=settings.payment_link_check_after_minutes),
            unavailable=services.gateway_errors)

    async def prune() -> int:
        await prune_inbound_events(services.db, utcnow())
        return 0  # housekeeping is never a reason to skip the next sleep

    jobs = [
        Periodic("reconnection", driver.run_due),
        Periodic("outbox", outbox.run_due),
        Periodic("sweep", sweep_now, every=settings.sweep_interval_seconds),
        Periodic("payment-links", check_links, every=60.0),
        Periodic("housekeeping", prune, every=3600.0),
    ]
    return Worker(jobs, services.wakeup, poll=settings.worker_poll_seconds)


async def listen_for_work(services: Services) -> None:
    """On PostgreSQL, other processes' commits wake this worker (LISTEN/NOTIFY)."""
    if services.db.dialect == "postgresql":
        url = make_url(services.settings.database_url).set(drivername="postgresql")
        await services.wakeup.listen_postgres(url.render_as_string(hide_password=False))
