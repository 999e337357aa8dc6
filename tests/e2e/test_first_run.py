"""Use case: a new user's first `bijli` commands with a misconfiguration get one line that says
what is wrong and how to fix it, exit status 2 — never a traceback (unless `--debug`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BIJLI = Path(sys.executable).with_name("bijli")
A_FERNET_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


def bijli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`bijli` in an empty directory (no .env) with only PATH and the given settings."""
    return subprocess.run(  # noqa: S603 - our own console script
        [str(BIJLI), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "COLUMNS": "80", **env})


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bijli.db'}"
    assert bijli(tmp_path, "db", "upgrade", DATABASE_URL=url).returncode == 0
    return url


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- DATABASE_URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "fix"), [
    ("postgres://bijli:secret@db.example.in/bijli",
     "write postgresql+asyncpg://bijli:***@db.example.in/bijli"),
    ("postgresql://bijli@localhost/bijli", "write postgresql+asyncpg://bijli@localhost/bijli"),
    ("sqlite:///./bijli.db", "write sqlite+aiosqlite:///./bijli.db"),
    ("mysql+aiomysql://u@h/bijli", "Bijli runs on PostgreSQL or SQLite"),
])
def test_a_database_url_without_the_async_driver_says_what_to_write(
        tmp_path: Path, url: str, fix: str) -> None:
    line = one_line_exit_2(bijli(tmp_path, "db", "upgrade", DATABASE_URL=url))
    assert line.startswith("bijli: DATABASE_URL ") and fix in line
    assert "secret" not in line


def test_an_unreachable_database_is_named_with_where_it_was_looked_for(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/bijli"
    line = one_line_exit_2(bijli(tmp_path, "serve", DATABASE_URL=url))
    assert "cannot reach the database at 127.0.0.1:" in line
    assert "start PostgreSQL, or correct DATABASE_URL" in line


def test_a_database_without_the_schema_says_to_run_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    line = one_line_exit_2(bijli(tmp_path, "serve", DATABASE_URL=url))
    assert line == "bijli: the database has no Bijli schema yet: run bijli db upgrade"


# --- settings ----------------------------------------------------------------------------------


def test_malformed_json_in_a_setting_is_named_with_an_example(tmp_path: Path) -> None:
    line = one_line_exit_2(bijli(tmp_path, "serve",
                                 TWILIO_WHATSAPP_TEMPLATES='{"bill_due": {"hi": "HX1"}'))
    assert line.startswith("bijli: TWILIO_WHATSAPP_TEMPLATES is not valid JSON")
    assert '{"bill_due": {"hi": "HX...", "en": "HX..."}}' in line


def test_an_unknown_template_kind_is_refused_not_silently_never_sent(tmp_path: Path) -> None:
    line = one_line_exit_2(bijli(tmp_path, "worker",
                                 TWILIO_WHATSAPP_TEMPLATES='{"bil_due": {"hi": "HX1"}}'))
    assert "unknown notification kind 'bil_due': use bill_due, overdue_notice" in line


def test_a_bad_fernet_key_says_how_to_make_one(tmp_path: Path) -> None:
    line = one_line_exit_2(bijli(tmp_path, "chat", DATA_ENCRYPTION_KEY="not-a-key"))
    assert "DATA_ENCRYPTION_KEY key #1 is not a Fernet key" in line
    assert "Fernet.generate_key()" in line and "not-a-key" not in line


def test_a_value_of_the_wrong_type_names_the_setting(tmp_path: Path) -> None:
    line = one_line_exit_2(bijli(tmp_path, "serve", DATABASE_POOL_SIZE="ten"))
    assert line.startswith("bijli: DATABASE_POOL_SIZE: Input should be a valid integer")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = bijli(tmp_path, "--debug", "serve", DATA_ENCRYPTION_KEY="not-a-key")
    assert result.returncode != 0
    assert "SetupProblem" in result.stderr and len(result.stderr.splitlines()) > 1


# --- the port ---------------------------------------------------------------------------------


def test_a_port_in_use_suggests_the_next_one(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_exit_2(bijli(tmp_path, "serve", "--port", str(port), DATABASE_URL=url,
                                     DATA_ENCRYPTION_KEY=A_FERNET_KEY))
    assert f"port {port} on 127.0.0.1 is in use" in line
    assert f"bijli serve --port {port + 1} (make run PORT={port + 1})" in line


# --- version -----------------------------------------------------------------------------------


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = bijli(tmp_path, "--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"bijli {version('bijli')}")


@pytest.mark.parametrize("command", ["worker", "chat"])
def test_the_worker_and_the_chat_check_the_database_first_too(tmp_path: Path,
                                                              command: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    line = one_line_exit_2(bijli(tmp_path, command, DATABASE_URL=url))
    assert line == "bijli: the database has no Bijli schema yet: run bijli db upgrade"
