"""Privacy finding: personal data at rest and in logs. The SQLite file (names, mobiles) is
readable by its owner only, and bound values never appear in SQL errors or logs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from discom.clock import utcnow
from discom.db import Database
from discom.models import Chat
from discom.schema import upgrade
from tests.conftest import ON_POSTGRES

MOBILE_LIKE = "+919812345678"  # a bound value that must not be echoed


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(ON_POSTGRES, reason="about the SQLite file")
def test_a_new_sqlite_database_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path):
    path = tmp_path / "bijli.db"
    previous = os.umask(0o022)  # a typical umask: files 0644 unless created otherwise
    try:
        upgrade(f"sqlite+aiosqlite:///{path}")
    finally:
        os.umask(previous)

    assert mode_of(path) == 0o600
    for companion in tmp_path.glob("bijli.db-*"):  # -wal, -shm
        assert mode_of(companion) == 0o600, companion.name


@pytest.mark.skipif(ON_POSTGRES, reason="about the SQLite file")
async def test_an_existing_sqlite_file_readable_by_others_is_made_private(tmp_path: Path):
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)

    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x TEXT)"))
    finally:
        await db.dispose()

    assert mode_of(path) == 0o600


async def test_a_failed_statement_does_not_echo_its_bound_values(db: Database):
    row = {"channel": "sms", "external_id": MOBILE_LIKE, "language": "hi",
           "language_chosen": False, "created_at": utcnow(), "last_inbound_at": utcnow()}
    async with db.engine.begin() as connection:
        await connection.execute(insert(Chat), row)

    with pytest.raises(IntegrityError) as failed:
        async with db.engine.begin() as connection:
            await connection.execute(insert(Chat), row)  # the same chat twice

    assert MOBILE_LIKE not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)
