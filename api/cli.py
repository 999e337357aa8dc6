"""`bijli`: the command line (serve, db, import, demo, chat, ...), per ARCHITECTURE.md."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from discom.settings import Settings

app = typer.Typer(help="Bijli: the discom's consumer front end.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying Bijli out.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
telegram_app = typer.Typer(help="The Telegram bot's webhook and command menu.",
                           no_args_is_help=True)
app.add_typer(telegram_app, name="telegram")
console = Console(stderr=True)


class ImportKind(StrEnum):
    consumers = "consumers"
    meters = "meters"
    bills = "bills"


def _settings() -> Settings:
    return Settings()


def _refuse_unfit_production(settings: Settings) -> None:
    problems = settings.production_problems()
    if settings.bijli_env == "production" and problems:
        for problem in problems:
            console.print(f"[red]refusing to start:[/red] {problem}")
        raise typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API only.")] = False,
) -> None:
    """API, webhooks and bots in one process (the embedded default)."""
    import uvicorn

    from api.app import create_app
    from api.logging import configure_logging

    settings = _settings()
    _refuse_unfit_production(settings)
    configure_logging(settings.log_level, json=settings.bijli_env == "production")
    uvicorn.run(create_app(settings, run_worker=not no_worker), host=host, port=port,
                log_config=None)


@app.command()
def worker() -> None:
    """The worker alone: reconnection orders, notifications, sweep, payment-link checks.

    Run as many as you like against PostgreSQL; they share the work without doing any twice.
    """
    import signal

    from api.composition import build_services
    from api.logging import configure_logging
    from api.worker import build_worker, listen_for_work

    settings = _settings()
    _refuse_unfit_production(settings)
    configure_logging(settings.log_level, json=settings.bijli_env == "production")

    async def run() -> None:
        services = build_services(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await listen_for_work(services)
            await build_worker(services).run(stop)
        finally:
            await services.close()

    asyncio.run(run())


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
) -> None:
    """Idempotent upsert of a billing-system CSV export (formats in ARCHITECTURE.md)."""
    from discom.db import Database
    from discom.importer import ImportFileError, import_csv

    with file.open("rb") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)

    async def run() -> object:
        db = Database(_settings().database_url)
        try:
            with _progress() as progress:
                task = progress.add_task(f"importing {kind.value}", total=total)
                return await import_csv(db, kind.value, file, batch_size=batch_size,
                                        on_progress=lambda n: progress.advance(task, n))
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except ImportFileError as exc:
        console.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(code=2) from exc
    _print_import_report(report)
    if report.errors:
        raise typer.Exit(code=1)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def _print_import_report(report: object) -> None:
    table = Table(title=f"import {report.kind}")
    for column in ("read", "written", "unchanged", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(str(report.rows_read), str(report.rows_written), str(report.rows_unchanged),
                  str(len(report.errors)))
    console.print(table)
    for error in report.errors[:50]:
        console.print(f"line {error.line}: {error.message}")
    if len(report.errors) > 50:
        console.print(f"... and {len(report.errors) - 50} more rejected rows")


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

    from api.composition import SIMULATOR_PATH
    from discom.db import Database
    from discom.identifiers import normalise_consumer_no
    from discom.models import Consumer, Meter

    settings = _settings()
    if not settings.uses_hes_simulator:
        console.print("[red]HES_BASE_URL is set: there is no simulator to ask[/red]")
        raise typer.Exit(code=2)

    async def meter_ids() -> list[str]:
        db = Database(settings.database_url)
        try:
            async with db.uow() as uow:
                return list((await uow.session.scalars(
                    select(Meter.meter_id).join(Consumer, Consumer.id == Meter.consumer_id)
                    .where(Consumer.consumer_no == normalise_consumer_no(consumer_no)))).all())
        finally:
            await db.dispose()

    url = f"{settings.public_base_url}{SIMULATOR_PATH}/_control/disconnect"
    headers = {"Authorization": f"Bearer {settings.hes_api_key.get_secret_value()}"}
    for meter_id in asyncio.run(meter_ids()):
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
    from discom.db import Database
    from discom.demo import is_empty, seed

    async def run() -> int | None:
        db = Database(_settings().database_url)
        try:
            if if_empty and not await is_empty(db):
                return None
            return await seed(db)
        finally:
            await db.dispose()

    added = asyncio.run(run())
    console.print("database not empty: demo not seeded" if added is None
                  else f"{added} demo consumers added (1000000001 ... 1000000020)")


@app.command()
def chat(
    chat_id: Annotated[str, typer.Option(help="Which console chat to continue.")] = "local",
) -> None:
    """Talk to Bijli in the terminal, against the local database."""
    from api.composition import build_services
    from api.console import chat_in_terminal

    async def read() -> str | None:
        try:
            return await asyncio.to_thread(input, "> ")
        except EOFError:
            return None

    def write(text: str) -> None:
        print(text + "\n", flush=True)

    async def run() -> None:
        services = build_services(_settings())
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
    app()
