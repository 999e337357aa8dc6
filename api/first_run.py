"""What stops `bijli` from starting, said in one line with the fix (the CLI then exits 2).

A new user's first run meets misconfigurations, not bugs: a `postgres://` URL, a database that
is not running or not migrated, a JSON setting with a typo, a port in use. Each check here
raises `SetupProblem` with what is wrong and what to do; `explain` turns the errors those
mistakes cause deeper down (a refused connection) into the same kind of line. The traceback
is for `bijli --debug`.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from collections.abc import Mapping

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from discom.settings import Settings

ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
EXAMPLE_URLS = ("postgresql+asyncpg://user:password@host:5432/bijli or "
                "sqlite+aiosqlite:///./bijli.db")
CONNECT_TIMEOUT_SECONDS = 5.0


class SetupProblem(Exception):
    """The configuration or the machine keeps Bijli from starting; the message says how to fix
    it, in one line."""


# --- settings ----------------------------------------------------------------------------------


def load_settings() -> Settings:
    """The settings, checked for what would otherwise fail later with a traceback."""
    try:
        settings = Settings()
    except SettingsError as exc:
        raise SetupProblem(_unparsable_setting(exc)) from exc
    except ValidationError as exc:
        raise SetupProblem(_invalid_setting(exc)) from exc
    check_database_url(settings.database_url)
    check_whatsapp_templates(settings.twilio_whatsapp_templates)
    check_encryption_key(settings.data_encryption_key)
    return settings


def _unparsable_setting(exc: SettingsError) -> str:
    # pydantic-settings says only 'error parsing value for field "x" from source "..."'.
    field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "a setting"
    cause = exc.__cause__
    detail = f" ({cause.msg} at character {cause.pos})" if isinstance(
        cause, json.JSONDecodeError) else ""
    return (f"{field.upper()} is not valid JSON{detail}: write it as one JSON object, e.g. "
            f"{_JSON_EXAMPLES.get(field, '{...}')}")


_JSON_EXAMPLES = {
    "twilio_whatsapp_templates": '{"bill_due": {"hi": "HX...", "en": "HX..."}}',
    "twilio_dlt_template_ids": '{"otp": "1107...", "mobile_changed": "1107..."}',
    "disconnection_charges_paise": '{"default": 15000}',
    "reconnection_charges_paise": '{"default": 15000}',
}


def _invalid_setting(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]).upper() or "a setting"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return (f"{name}: {error['msg'].removeprefix('Value error, ')}{more}; fix it in the "
            "environment or .env (see .env.example)")


def check_database_url(text: str) -> None:
    """SQLAlchemy's own errors for these ("Can't load plugin: sqlalchemy.dialects:postgres",
    "the loaded 'pysqlite' is not async") do not say what to write instead."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise SetupProblem(f"DATABASE_URL is not a database URL: write {EXAMPLE_URLS}") from None
    backend = url.get_backend_name()
    if backend == "postgres":
        raise SetupProblem("DATABASE_URL starts with postgres://, which SQLAlchemy does not "
                           f"know: write {_shown(url, 'postgresql')}")
    if backend not in ASYNC_DRIVERS:
        raise SetupProblem(f"DATABASE_URL is a {backend} database: Bijli runs on PostgreSQL "
                           f"or SQLite, e.g. {EXAMPLE_URLS}")
    if "+" not in url.drivername or url.get_driver_name() != ASYNC_DRIVERS[backend]:
        raise SetupProblem(f"DATABASE_URL needs the async driver {ASYNC_DRIVERS[backend]}: "
                           f"write {_shown(url, backend)}")


def _shown(url: URL, backend: str) -> str:
    fixed = url.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    return fixed.render_as_string(hide_password=True)


def check_whatsapp_templates(templates: Mapping[str, Mapping[str, str]]) -> None:
    """A kind or language that no notification uses would silently never be sent."""
    from bot.locales import LANGUAGES
    from bot.notifications import TEMPLATE_VARIABLES

    for kind, by_language in templates.items():
        if kind not in TEMPLATE_VARIABLES:
            raise SetupProblem(
                f"TWILIO_WHATSAPP_TEMPLATES has an unknown notification kind {kind!r}: use "
                f"{', '.join(TEMPLATE_VARIABLES)}")
        unknown = sorted(set(by_language) - set(LANGUAGES))
        if unknown:
            raise SetupProblem(
                f"TWILIO_WHATSAPP_TEMPLATES[{kind!r}] has an unknown language {unknown[0]!r}: "
                f"use {' or '.join(LANGUAGES)}")


def check_encryption_key(key: SecretStr | None) -> None:
    from discom.kyc.vault import KeyProblem, parse_keys

    if key is None:
        return
    try:
        parse_keys(key.get_secret_value())
    except KeyProblem as exc:
        raise SetupProblem(
            f"{exc}: make one with python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'") from None


def with_local_base_url(settings: Settings, host: str, port: int) -> Settings:
    """PUBLIC_BASE_URL unset: this server's own address, so a second instance on another port
    does not hand out links to the first one."""
    if "public_base_url" in settings.model_fields_set:
        return settings
    # A comparison with the wildcard address, not a bind to it.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104  # nosec B104
    if ":" in shown:
        shown = f"[{shown}]"
    return settings.model_copy(update={"public_base_url": f"http://{shown}:{port}"})


# --- the machine -------------------------------------------------------------------------------


def check_port_free(host: str, port: int) -> None:
    """Bind and release the port, as uvicorn will (SO_REUSEADDR), to say so before it fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SetupProblem(_bind_problem(host, port, exc)) from None


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is in use (another bijli serve?): stop it, or use "
                f"another port: bijli serve --port {port + 1} (make run PORT={port + 1})")
    if exc.errno == errno.EACCES:
        return f"port {port} needs administrator rights: use a port above 1023, e.g. 8000"
    return f"cannot listen on {host}:{port} ({exc.strerror}): check --host and --port"


def check_database(url: str) -> None:
    """Connect once and see the schema is migrated, before a server starts on it."""
    asyncio.run(verify_database(url))


async def verify_database(url: str) -> None:
    """`check_database` inside a running event loop."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    # A plain engine without a pool: the server's own (discom.db) comes after and nothing of
    # this one may outlive the check.
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), engine.connect() as connection:
            try:
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            except DBAPIError:
                raise SetupProblem("the database has no Bijli schema yet: run "
                                   "bijli db upgrade") from None
    except TimeoutError:
        raise SetupProblem(f"no answer from the database at {_where(url)} within "
                           f"{CONNECT_TIMEOUT_SECONDS:.0f} s: check DATABASE_URL and the "
                           "network") from None
    except (OSError, DBAPIError) as exc:
        raise SetupProblem(explain(exc, url) or f"cannot use the database: {exc}") from None
    finally:
        await engine.dispose()


# --- errors from deeper down ------------------------------------------------------------------


def explain(exc: BaseException, url: str | None = None) -> str | None:
    """One line for an error a misconfiguration causes anywhere (None: a real bug)."""
    if isinstance(exc, SetupProblem):
        return str(exc)
    if not isinstance(exc, DBAPIError | OSError):
        return None
    original = getattr(exc, "orig", None) or exc
    # SQLAlchemy wraps asyncpg's exception in its DB-API adapter: the class is on the cause.
    name = type(original.__cause__ or original).__name__
    where = _where(url) if url else "DATABASE_URL"
    if isinstance(original, ConnectionRefusedError) or "refused" in str(original).lower():
        return (f"cannot reach the database at {where} (connection refused): start "
                "PostgreSQL, or correct DATABASE_URL")
    if isinstance(original, socket.gaierror):
        return f"cannot resolve the database host in {where}: correct DATABASE_URL"
    if name == "InvalidPasswordError" or "password authentication failed" in str(original):
        return f"the database at {where} refused the user or password: correct DATABASE_URL"
    if name == "InvalidCatalogNameError":
        return (f"the database in {where} does not exist: create it (createdb), or correct "
                "DATABASE_URL")
    if "unable to open database file" in str(original):
        return (f"cannot open the SQLite file of {where}: does its directory exist and is it "
                "writable?")
    return None


def _where(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "DATABASE_URL"
    if parsed.get_backend_name() == "sqlite":
        return f"DATABASE_URL ({parsed.database})"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
