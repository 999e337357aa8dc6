"""SQLite's locks are POSIX advisory locks, held per process: closing *any* descriptor of the
database file releases every lock the process holds on it, also those of its open
connections. Another process then takes its connection to be the last one and, closing it,
checkpoints and deletes the -wal and -shm files under them: what the first process writes
afterwards goes into a deleted WAL that no other process ever reads. (Seen in
tests/e2e/test_worker_process.py: the test process opened the app's engine beside its own,
dropping its locks; `bijli worker`'s database check then closed what it took for the last
connection, and the two processes stopped seeing each other's writes: the new order was never
claimed.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from discom.db import Database
from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="about the SQLite file")

_OTHER_PROCESS = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
print(connection.execute("SELECT count(*) FROM t").fetchone()[0])
connection.close()
"""


def count_in_another_process(path: Path) -> int:
    """Open the database in another process, count the rows, close (as `bijli worker`'s
    database check does)."""
    result = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(path)],  # noqa: S603
                            check=True, capture_output=True, text=True, timeout=30)
    return int(result.stdout)


async def test_opening_a_second_engine_keeps_the_first_ones_writes_visible_to_others(
        tmp_path: Path):
    path = tmp_path / "bijli.db"
    url = f"sqlite+aiosqlite:///{path}"
    first = Database(url)
    try:
        async with first.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        # A second engine on the same file in this process, while the first holds an open
        # connection (the app's beside a test's, a command's beside the server's).
        second = Database(url)
        await second.dispose()
        assert count_in_another_process(path) == 0

        async with first.engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))

        assert count_in_another_process(path) == 1
        assert (tmp_path / "bijli.db-wal").exists()  # still the first connection's WAL
    finally:
        await first.dispose()
