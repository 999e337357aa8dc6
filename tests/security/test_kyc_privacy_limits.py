"""Issue 10, Privacy: KYC is no oracle, and guessing is bounded per account.

- An unknown consumer number and a consumer without a registered mobile get the same answer;
  the masked registered mobile is shown only once the Samagra ID matched.
- Look-ups of one consumer number are limited per hour over all chats together
  (LOOKUPS_PER_CONSUMER_PER_HOUR), besides each chat's own limit (LOOKUPS_PER_CHAT_PER_HOUR).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import seed
from discom.models import ConsumerLookup
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import test_settings
from tests.kyc_steps import (
    DUE_SOON,
    KEY,
    NO_MOBILE,
    NOW,
    PAID_UP,
    Clock,
    count,
    kyc_dialog,
    kyc_settings,
    samagra_of,
)

TOO_MANY = "looked up many consumer numbers"
MASKED = re.compile(r"[0-9]{2}X{6}[0-9]{2}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def dialog(db: Database, database_url: str, clock: Clock) -> DialogService:
    await seed(db, now=NOW)
    return kyc_dialog(db, kyc_settings(database_url), clock)


async def chat_of(dialog: DialogService, ref: str) -> ChatDriver:
    chat = ChatDriver(dialog, ref)
    await chat.start_in("en")
    return chat


# --- no existence oracle ----------------------------------------------------------------------

async def test_an_unknown_number_and_a_consumer_without_mobile_get_the_same_answer(
    dialog: DialogService
):
    unknown_no = "1999999999"
    unknown = await (await chat_of(dialog, "a")).send(f"/kyc {unknown_no}")
    no_mobile = await (await chat_of(dialog, "b")).send(f"/kyc {NO_MOBILE[0]}")
    assert unknown.replace(unknown_no, "N") == no_mobile.replace(NO_MOBILE[0], "N")


async def test_the_masked_mobile_is_shown_only_after_the_samagra_id_matched(
    dialog: DialogService
):
    chat = await chat_of(dialog, "c")
    answers = [await chat.send(f"/kyc {PAID_UP[0]}"), await chat.send("999999999"),
               await chat.send(samagra_of(DUE_SOON[0])), await chat.send(button="kyc:agree")]
    assert not any(MASKED.search(answer) for answer in answers), answers
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(samagra_of(PAID_UP[0]))
    assert "98XXXXXX10" in await chat.send(button="kyc:agree")


# --- per-consumer limits ----------------------------------------------------------------------

@pytest.fixture
async def app_dialog(db: Database, database_url: str) -> AsyncIterator[DialogService]:
    """The dialog as the composition root wires it from the settings."""
    settings = test_settings(database_url, data_encryption_key=KEY,
                             lookups_per_consumer_per_hour=3, lookups_per_chat_per_hour=5)
    await seed(db, now=NOW)
    app = create_app(settings)
    async with LifespanManager(app):
        yield app.state.services.dialog


async def test_one_account_is_looked_up_only_so_often_from_all_chats_together(
    app_dialog: DialogService, db: Database
):
    for n in range(3):
        answer = await (await chat_of(app_dialog, f"g{n}")).send(f"/dues {DUE_SOON[0]}")
        assert f"Consumer {DUE_SOON[0]}" in answer
    fourth = await chat_of(app_dialog, "g3")
    assert TOO_MANY in await fourth.send(f"/dues {DUE_SOON[0]}")
    assert TOO_MANY in await fourth.send(f"/kyc {DUE_SOON[0]}")  # KYC counts the same
    assert f"Consumer {PAID_UP[0]}" in await fourth.send(f"/dues {PAID_UP[0]}")
    assert await count(db, ConsumerLookup) == 4


async def test_samagra_guesses_at_one_account_are_bounded_however_many_chats_guess(
    app_dialog: DialogService
):
    reached_samagra = 0
    for n in range(6):
        chat = await chat_of(app_dialog, f"s{n}")
        if "Samagra ID" in await chat.send(f"/kyc {PAID_UP[0]}"):
            reached_samagra += 1
            await chat.send(f"{900000000 + n}")
    assert reached_samagra == 3


async def test_each_chat_keeps_its_own_limit_too(app_dialog: DialogService):
    chat = await chat_of(app_dialog, "one")
    numbers = [f"{1_000_000_001 + n}" for n in range(6)]
    answers = [await chat.send(f"/dues {no}") for no in numbers]
    assert all(TOO_MANY not in answer for answer in answers[:5])
    assert TOO_MANY in answers[5]


async def test_the_limit_is_per_hour(dialog: DialogService, clock: Clock):
    # kyc_dialog's defaults: 10 look-ups of one consumer an hour.
    for n in range(10):
        await (await chat_of(dialog, f"h{n}")).send(f"/dues {DUE_SOON[0]}")
    late = await chat_of(dialog, "late")
    assert TOO_MANY in await late.send(f"/dues {DUE_SOON[0]}")
    clock.tick(minutes=61)
    assert TOO_MANY not in await late.send(f"/dues {DUE_SOON[0]}")


# --- the database itself ----------------------------------------------------------------------

async def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    import os
    import stat

    from discom.schema import upgrade  # what `bijli db upgrade` runs on a fresh file

    path = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for extra in (tmp_path / "fresh.db-wal", tmp_path / "fresh.db-shm"):
        if extra.exists():
            assert stat.S_IMODE(os.stat(extra).st_mode) & 0o077 == 0


async def test_bound_values_never_reach_error_messages(db: Database):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    secret = "+919876543210"
    with pytest.raises(DBAPIError) as failed:
        async with db.uow() as uow:
            await uow.session.execute(
                text("INSERT INTO consumers (consumer_no, name, mobile) VALUES (:a, :b, :c)"),
                {"a": None, "b": "x", "c": secret})
    assert secret not in str(failed.value)
