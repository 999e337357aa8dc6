"""Acceptance: on the embedded default (no Twilio, no DATA_ENCRYPTION_KEY), `bijli chat` does a
whole KYC: the OTP SMS is shown on the console marked as sandbox, and the data is encrypted
with a key generated beside the database."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from discom.db import Database
from discom.demo import seed
from discom.kyc.vault import DEV_KEY_FILENAME, dev_key_path
from tests.e2e.test_console_chat import ChatProcess
from tests.kyc_steps import PAID_UP, samagra_of


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await seed(db)
    finally:
        await db.dispose()


@pytest.fixture
def console(db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[ChatProcess]:
    asyncio.run(_seed(database_url))
    monkeypatch.chdir(tmp_path)  # no stray .env; a non-SQLite dev key lands here
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("TWILIO_", "DATA_ENCRYPTION_KEY"))}
    env.update(DATABASE_URL=database_url, BIJLI_ENV="development", DEFAULT_LANGUAGE="en")
    chat = ChatProcess(env, "kyc-acceptance")
    try:
        yield chat
    finally:
        chat.close()


def test_the_console_does_a_whole_kyc_with_the_sandbox_sms(console: ChatProcess,
                                                            database_url: str, tmp_path: Path):
    console.send("hi")
    console.send("2")  # English
    console.send("/kyc")
    console.wait_for("Please send your consumer number")
    console.send(PAID_UP[0])
    console.wait_for("Samagra ID")
    console.send(samagra_of(PAID_UP[0]))  # the simulator's member for this consumer
    console.wait_for("1. I agree")
    console.send("1")
    output = console.wait_for("valid for 10 minutes")
    sms = output[output.index("[SANDBOX: no SMS was sent] SMS to 98XXXXXX10:"):]
    code = re.search(r"([0-9]{6}) is your Bijli OTP", sms)
    assert code is not None
    console.send(code.group(1))
    console.wait_for(f"KYC complete for consumer {PAID_UP[0]}")
    key_file = dev_key_path(database_url) if database_url.startswith("sqlite") else (
        tmp_path / DEV_KEY_FILENAME)
    assert key_file.exists()
