"""`bijli`: the command line (serve, db, import, demo, chat, ...), per ARCHITECTURE.md."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from discom.settings import Settings, UnfitForProduction, refuse_unfit_production

app = typer.Typer(
    help="Bijli: the discom's consumer front end. Settings, endpoints, connector contracts and "
         "import formats: docs/contracts.md.",
    no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying Bijli out.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
telegram_app = typer.Typer(help="The Telegram bot's webhook and command menu.",
                           no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
kyc_app = typer.Typer(help="KYC records: export, encryption key rotation.", no_args_is_help=True)
app.add_typer(kyc_app, name="kyc")
console = Console(stderr=True)


class ImportKind(StrEnum):
    consumers = "consumers"
    meters = "meters"
    bills = "bills"


def _settings() -> Settings:
    from api.first_run import load_settings

    return load_settings()


def _counted(key: str, count: int, **values: object) -> str:
    """An operator message with a number in it, in the right plural form (bot/locales)."""
    from bot.locales import translate_plural

    return translate_plural(CLI_LANGUAGE, key, count, **values)


CLI_LANGUAGE = "en"  # the operator's command line; consumers' chats follow their own choice


class _Run:
    debug = False  # `bijli --debug`: a traceback instead of the one-line explanation


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        print(f"bijli {version('bijli')}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of an error, not only the one-line cause.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    _Run.debug = debug


def _refuse_unfit_production(settings: Settings) -> None:
    try:
        refuse_unfit_production(settings)
    except UnfitForProduction as unfit:
        for problem in unfit.problems:
            console.print(f"[red]refusing to start:[/red] {problem}")
        raise typer.Exit(code=2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API only.")] = False,
) -> None:
    """API, webhooks and bots in one process (the embedded default).

    Without PUBLIC_BASE_URL, links (payment pages, the simulators) point at this host and port.
    """
    import uvicorn

    from api.app import create_app
    from api.first_run import check_database, check_port_free, with_local_base_url
    from api.logging import configure_logging

    settings = with_local_base_url(_settings(), host, port)
    _refuse_unfit_production(settings)
    check_port_free(host, port)
    check_database(settings.database_url)
    configure_logging(settings.log_level, json=settings.bijli_env == "production")
    uvicorn.run(create_app(settings, run_worker=not no_worker), host=host, port=port,
                log_config=None)


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop where it is installed (uvicorn[standard] brings it on Linux and
    macOS; it takes about a sixth off the worker's CPU per payment), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


@app.command()
def worker() -> None:
    """The worker alone: reconnection orders, notifications, sweep, payment-link checks.

    Run as many as you like against PostgreSQL; they share the work without doing any twice.
    """
    import signal

    from api.composition import build_services
    from api.first_run import check_database
    from api.logging import configure_logging
    from api.worker import build_worker, listen_for_work
    from bot.channels.telegram import sending_only

    settings = _settings()
    _refuse_unfit_production(settings)
    check_database(settings.database_url)
    configure_logging(settings.log_level, json=settings.bijli_env == "production")

    async def run() -> None:
        services = build_services(settings, role="worker")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await listen_for_work(services)
            async with sending_only(services.telegram, services.telegram_status):
                await build_worker(services).run(stop)
        finally:
            await services.close()

    run_event_loop(run())


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Alembic revision.")] = "head",
) -> None:
    """Migrate the database (DATABASE_URL) to the latest schema."""
    from discom.schema import upgrade

    upgrade(_settings().database_url, revision)
    console.print(f"database at {revision}")


@app.command("import")
def import_(
    kind: Annotated[ImportKind, typer.Argument(help="What the file holds.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 5000,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", dir_okay=False,
        help="Write the refused rows here as CSV with a `reason` column; fix them and import "
             "that file as it is.")] = None,
) -> None:
    """Idempotent upsert of a billing-system CSV export (formats in docs/contracts.md).

    A bad mobile or Samagra ID is a warning (the consumer is imported without it); a row is
    refused only when an identifying or money field is bad.

    Exit status: 0 loaded (warnings allowed), 1 some rows refused, 2 the file is unusable
    (unreadable, wrong header).
    """
    from api.composition import open_database
    from discom.importer import ImportFileError, import_csv, write_rejects
    from discom.kyc.wiring import kyc_vault

    with file.open("rb") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)

    async def run() -> object:
        db = open_database(_settings(), "import")
        try:
            with _progress() as progress:
                task = progress.add_task(f"importing {kind.value}", total=total)
                return await import_csv(db, kind.value, file, batch_size=batch_size,
                                        on_progress=lambda n: progress.advance(task, n),
                                        pii_vault=lambda: kyc_vault(_settings()))
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except ImportFileError as exc:
        console.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(code=2) from exc
    _print_import_report(report)
    if rejects is not None:
        with rejects.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            written = write_rejects(report, out)
        console.print(f"{written} refused rows written to {escape(str(rejects))}")
    if report.errors:
        raise typer.Exit(code=1)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


SHOWN_PER_LIST = 50


def _print_import_report(report: Any) -> None:
    table = Table(title=f"import {report.kind}")
    for column in ("read", "written", "unchanged", "rejected", "warnings"):
        table.add_column(column, justify="right")
    table.add_row(str(report.rows_read), str(report.rows_written), str(report.rows_unchanged),
                  str(len(report.errors)), str(len(report.warnings)))
    console.print(table)
    _print_lines("rejected", [f"line {e.line}: {e.message}" for e in report.errors])
    _print_lines("warnings", [f"line {w.line}: {w.message}" for w in report.warnings])
    kept = report.kept_verified_mobiles
    if kept:
        console.print(_counted("cli.import_kept_mobiles", len(kept), lines=_line_list(kept)),
                      highlight=False)


def _print_lines(title: str, lines: list[str]) -> None:
    if lines:
        console.print(f"{title}:")
    for line in lines[:SHOWN_PER_LIST]:
        console.print(f"  {escape(line)}", highlight=False)
    if len(lines) > SHOWN_PER_LIST:
        console.print(f"  ... and {len(lines) - SHOWN_PER_LIST} more {title}")


def _line_list(lines: list[int]) -> str:
    shown = ", ".join(str(line) for line in lines[:SHOWN_PER_LIST])
    return shown + (f" and {len(lines) - SHOWN_PER_LIST} more" if len(lines) > SHOWN_PER_LIST
                    else "")


def _days(text: str) -> int:
    """"3d" or "3" → 3 (days)."""
    value = text.strip().lower().removesuffix("d")
    if not value.isdigit() or int(value) > 60:
        raise typer.BadParameter("a number of days, e.g. 3d (at most 60d)")
    return int(value)


@app.command()
def remind(
    due_within: Annotated[str, typer.Option(
        "--due-within", help="Remind of unpaid bills due within this many days (3d).")] = "3d",
    overdue: Annotated[bool, typer.Option(
        help="Also queue the overdue notices (DISCONNECTION_NOTICE_DAYS clear days before "
             "disconnection).")] = True,
    batch_size: Annotated[int, typer.Option(min=100, max=50_000)] = 5000,
) -> None:
    """Queue today's reminders for every consumer: bills due soon, overdue notices.

    One reminder per consumer, bill and kind, ever: running it again (or after a crash)
    queues only what is missing. The worker sends them, paced to each provider's limits,
    outside the quiet hours (REMINDER_QUIET_HOURS). REMINDER_DAILY_AT runs this daily.
    """
    from sqlalchemy import func, select

    from api.composition import open_database
    from api.messaging import deliverable_channels
    from api.worker import reminder_policy
    from discom.clock import utcnow
    from discom.models import Consumer
    from discom.notify.routing import Routing
    from discom.reminders import BILL_DUE, enqueue_reminders

    settings = _settings()
    policy = reminder_policy(settings, _days(due_within))
    if not overdue:
        policy = replace(policy, kinds=(BILL_DUE,))
    channels = deliverable_channels(settings)
    routing = Routing(channels=channels, sms_fallback="sms" in channels,
                      default_language=settings.default_language)

    async def run() -> object:
        db = open_database(settings, "remind")
        try:
            async with db.uow() as uow:
                total = await uow.session.scalar(select(func.count()).select_from(Consumer))
            with _progress() as progress:
                task = progress.add_task("reminders", total=total)
                return await enqueue_reminders(
                    db, utcnow(), policy, routing, batch_size=batch_size,
                    on_progress=lambda n: progress.advance(task, n))
        finally:
            await db.dispose()

    report = asyncio.run(run())
    table = Table(title="reminders queued")
    for column in ("consumers", "owed", "newly queued", "unreachable", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(f"{report.consumers:,}", f"{report.owed:,}", f"{report.queued:,}",
                  f"{report.unreachable:,}", f"{report.seconds:.1f}")
    console.print(table)
    for name, counts in (("by kind", report.by_kind), ("by channel", report.by_channel)):
        if counts:
            console.print(f"{name}: " + ", ".join(f"{key} {value:,}"
                                                  for key, value in sorted(counts.items())))


@demo_app.command("disconnect")
def demo_disconnect(
    consumer_no: Annotated[str, typer.Argument(help="A demo consumer number.")],
) -> None:
    """Have the HES simulator cut this consumer's meters for non-payment (needs `bijli serve`).

    The simulator reports `relay_disconnected` to Bijli, which adds the charges and tells the
    consumer the total with a payment link: the start of the whole reconnection cycle.
    """
    import httpx
    from sqlalchemy import select

    from api.composition import SIMULATOR_PATH, open_database
    from discom.identifiers import InvalidIdentifier, normalise_consumer_no
    from discom.models import Consumer, Meter

    settings = _settings()
    if not settings.uses_hes_simulator:
        console.print("[red]HES_BASE_URL is set: there is no simulator to ask[/red]")
        raise typer.Exit(code=2)

    try:
        number = normalise_consumer_no(consumer_no)
    except InvalidIdentifier as exc:
        console.print(f"[red]{escape(consumer_no)}: {exc}[/red]")
        raise typer.Exit(code=1) from exc

    async def meter_ids() -> tuple[bool, list[str]]:
        db = open_database(settings, "demo")
        try:
            async with db.uow() as uow:
                consumer_id = await uow.session.scalar(
                    select(Consumer.id).where(Consumer.consumer_no == number))
                return consumer_id is not None, list((await uow.session.scalars(
                    select(Meter.meter_id).where(Meter.consumer_id == consumer_id))).all())
        finally:
            await db.dispose()

    known, meters = asyncio.run(meter_ids())
    if not known:
        console.print(f"[red]no consumer {number}: the demo consumers are 1000000001 ... "
                      "1000000020 (bijli demo seed)[/red]")
        raise typer.Exit(code=1)
    if not meters:
        console.print(f"[red]consumer {number} has no smart meter to disconnect[/red]")
        raise typer.Exit(code=1)
    url = f"{settings.public_base_url}{SIMULATOR_PATH}/_control/disconnect"
    headers = {"Authorization": f"Bearer {settings.hes_api_key.get_secret_value()}"}
    for meter_id in meters:
        try:
            answer = httpx.post(url, json={"meter_id": meter_id, "reason": "non_payment"},
                                headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            console.print(f"[red]{url}: {exc!r} — is `bijli serve` running?[/red]")
            raise typer.Exit(code=1) from exc
        console.print(f"{meter_id}: {answer.status_code} {answer.text[:200]}")


@demo_app.command("seed")
def demo_seed(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only into an empty database.")
                        ] = False,
) -> None:
    """Add the demo consumers (numbers 1000000001 to 1000000020)."""
    from api.composition import open_database
    from discom.demo import DEMO_CONSUMERS, demo_consumer_no, is_empty, seed

    async def run() -> int | None:
        db = open_database(_settings(), "demo")
        try:
            if if_empty and not await is_empty(db):
                return None
            return await seed(db)
        finally:
            await db.dispose()

    added = asyncio.run(run())
    console.print("database not empty: demo not seeded" if added is None
                  else _counted("cli.demo_added", added, first=demo_consumer_no(0),
                                last=demo_consumer_no(len(DEMO_CONSUMERS) - 1)))


@app.command()
def chat(
    chat_id: Annotated[str, typer.Option(help="Which console chat to continue.")] = "local",
) -> None:
    """Talk to Bijli in the terminal, against the local database."""
    from api.composition import build_services
    from api.console import chat_in_terminal
    from api.logging import configure_logging

    async def read() -> str | None:
        try:
            return await asyncio.to_thread(input, "> ")
        except EOFError:
            return None

    def write(text: str) -> None:
        print(text + "\n", flush=True)

    from api.first_run import check_database

    settings = _settings()
    check_database(settings.database_url)
    # The terminal is the chat: only warnings and errors may interrupt it.
    configure_logging("WARNING", json=settings.bijli_env == "production")

    async def run() -> None:
        services = build_services(settings, role="chat")
        try:
            await chat_in_terminal(services, read, write, chat_id)
        finally:
            await services.close()

    print("Bijli console chat. Type 'hi' to start, Ctrl-D to leave.\n", flush=True)
    asyncio.run(run())


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[str | None, typer.Option(
        help="Where Telegram posts updates [default: PUBLIC_BASE_URL/webhooks/telegram].")
    ] = None,
) -> None:
    """Register the webhook (with TELEGRAM_WEBHOOK_SECRET) and the bot's command menu.
    Run once per deployment, not in every process."""
    from bot.channels.telegram_setup import register_webhook

    registered = _telegram(register_webhook(_settings(), url))
    console.print(f"webhook set: {escape(registered)}; command menu set (hi, en)")


@telegram_app.command("delete-webhook")
def telegram_delete_webhook() -> None:
    """Stop webhook delivery; updates then wait for a polling bot."""
    from bot.channels.telegram_setup import unregister_webhook

    _telegram(unregister_webhook(_settings()))
    console.print("webhook deleted")


def _kyc_vault(settings: Settings) -> Any:
    from discom.kyc.vault import KeyProblem, vault_from_settings

    key = settings.data_encryption_key
    try:
        return vault_from_settings(key.get_secret_value() if key else None,
                                   settings.database_url,
                                   production=settings.bijli_env == "production")
    except KeyProblem as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(code=2) from exc


@kyc_app.command("export")
def kyc_export(
    out: Annotated[Path | None, typer.Option(
        "--out", dir_okay=False, help="Write the CSV here (created 0600) instead of stdout.")
    ] = None,
    unmasked: Annotated[bool, typer.Option(
        "--unmasked", help="Full Samagra IDs, mobiles and account numbers. Logged.")] = False,
) -> None:
    """KYC records as CSV, one row per KYC, with the account's current bank account.
    Samagra ID, mobile and bank account are masked (last four) unless --unmasked."""
    import getpass
    import os
    import sys

    import structlog

    from api.composition import open_database
    from api.logging import configure_logging
    from discom.kyc.export import export_csv

    settings = _settings()
    configure_logging(settings.log_level, json=settings.bijli_env == "production")
    vault = _kyc_vault(settings)

    async def run(handle: Any) -> int:
        db = open_database(settings, "kyc-export")
        try:
            return await export_csv(db, vault, handle, unmasked=unmasked)
        finally:
            await db.dispose()

    if out is None:
        rows = asyncio.run(run(sys.stdout))
    else:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            rows = asyncio.run(run(handle))
    if unmasked:
        # An audit line: who, how many rows, where to — never the data itself.
        structlog.get_logger("bijli.kyc").warning(
            "kyc.export_unmasked", rows=rows, destination="file" if out else "stdout",
            os_user=getpass.getuser())
    console.print(_counted("cli.kyc_exported", rows)
                  + (" (UNMASKED)" if unmasked else " (masked)"))


@kyc_app.command("rotate-keys")
def kyc_rotate_keys(
    batch_size: Annotated[int, typer.Option(min=1, max=50_000)] = 1000,
) -> None:
    """Re-encrypt every Samagra ID and bank account with the first (newest) key of
    DATA_ENCRYPTION_KEY and re-hash them; then older keys may be removed. Safe to re-run."""
    from api.composition import open_database
    from discom.kyc.export import rotate_keys

    settings = _settings()
    if settings.data_encryption_key is None:
        console.print("[red]DATA_ENCRYPTION_KEY is unset: nothing to rotate to[/red]")
        raise typer.Exit(code=2)
    vault = _kyc_vault(settings)

    async def run() -> int:
        db = open_database(settings, "kyc-rotate")
        try:
            return await rotate_keys(db, vault, batch=batch_size)
        finally:
            await db.dispose()

    console.print(_counted("cli.rows_reencrypted", asyncio.run(run())))


def _telegram(call: Coroutine[Any, Any, Any]) -> Any:
    """Run a Telegram set-up call; a configuration or Telegram error becomes a clean exit."""
    from telegram.error import TelegramError

    from bot.channels.telegram_setup import TelegramOff

    try:
        return asyncio.run(call)
    except TelegramOff as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(code=2) from exc
    except TelegramError as exc:
        console.print(f"[red]Telegram call failed: {escape(exc.message)}[/red]")
        raise typer.Exit(code=1) from exc


def main() -> None:
    """The `bijli` command: a misconfiguration ends in one line and exit status 2."""
    from api.first_run import explain

    try:
        app()
    except Exception as exc:
        message = None if _Run.debug else explain(exc)
        if message is None:
            raise
        # One line whatever the terminal's width (rich would wrap it).
        console.print(f"[red]bijli: {escape(message)}[/red]", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
