"""Use case: the discom keeps KYC data safe — encrypted at rest, masked when shown or
exported, never in the logs — and can rotate its encryption key."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app as cli
from discom.db import Database
from discom.demo import seed
from discom.identifiers import mask_mobile
from discom.kyc.records import kyc_records_for_samagra
from discom.kyc.vault import (
    DEV_KEY_FILENAME,
    KeyProblem,
    PiiVault,
    Undecryptable,
    parse_keys,
    vault_from_settings,
)
from discom.models import BankAccount
from discom.settings import Settings
from tests.drivers import ChatDriver
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.kyc_steps import (
    IFSC,
    KEY,
    NOW,
    OLD_KEY,
    PAID_UP,
    Clock,
    change_mobile_steps,
    code_in,
    kyc_dialog,
    kyc_settings,
    samagra_of,
    sandbox_code,
    sandbox_code_to,
)

SAMAGRA = samagra_of(PAID_UP[0])
ACCOUNT = "5566778899001"
NEW_MOBILE = "+919000056789"


async def full_kyc(chat: ChatDriver, clock: Clock, code_of: object) -> list[str]:
    """KYC, a bank account and a mobile change; returns every code the consumer typed."""
    codes = []
    await chat.start_in("en")
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(SAMAGRA)
    answer = await chat.send(button="kyc:agree")
    codes.append(code_of(answer, PAID_UP[1]))  # type: ignore[operator]
    assert "KYC complete" in await chat.send(codes[-1])
    await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    await chat.send(ACCOUNT)
    await chat.send(ACCOUNT)
    answer = await chat.send(IFSC)
    codes.append(code_of(answer, PAID_UP[1]))  # type: ignore[operator]
    assert "XXXX9001" in await chat.send(codes[-1])
    clock.tick(seconds=61)
    await chat.send(button=f"kyc:mobile:{PAID_UP[0]}")
    answer = await chat.send(NEW_MOBILE)
    codes.append(code_of(answer, PAID_UP[1]))  # type: ignore[operator]
    codes.append(code_of(answer, NEW_MOBILE))  # type: ignore[operator]
    assert "new number" in await chat.send(codes[-2])
    assert "is now 90XXXXXX89" in await chat.send(codes[-1])
    return codes


async def test_no_samagra_id_bank_account_or_otp_reaches_the_logs(
    db: Database, database_url: str, fake_twilio: FakeTwilioAPI,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
):
    """Every logger at DEBUG (SQL and its parameters, the twilio client, urllib3, aiosqlite,
    structlog's output) through a whole KYC over Twilio."""
    await seed(db, now=NOW)
    clock = Clock()
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url, fake_twilio), clock), "p1")

    def from_twilio(_answer: str, mobile: str) -> str:
        return code_in(fake_twilio.messages(to=mobile)[-1].body or "")

    with caplog.at_level(logging.DEBUG), structlog.testing.capture_logs() as events:
        codes = await full_kyc(chat, clock, from_twilio)
    logged = "\n".join([caplog.text, *(repr(event) for event in events),
                        *capsys.readouterr()])
    assert "otp.sent" in logged and "twilio" in logged.lower()  # the capture itself works
    for secret in (SAMAGRA, ACCOUNT, *codes):
        assert secret not in logged, secret


async def test_in_production_the_sandbox_never_logs_an_otp(
    db: Database, database_url: str, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str]
):
    await seed(db, now=NOW)
    clock = Clock()
    settings = kyc_settings(database_url, bijli_env="production")
    chat = ChatDriver(kyc_dialog(db, settings, clock), "p2")
    with caplog.at_level(logging.DEBUG), structlog.testing.capture_logs() as events:
        codes = await full_kyc(
            chat, clock, lambda answer, mobile: sandbox_code_to(answer, mask_mobile(mobile)))
    logged = "\n".join([caplog.text, *(repr(event) for event in events),
                        *capsys.readouterr()])
    assert "SANDBOX SMS" in logged
    for code in codes:
        assert code not in logged


async def test_outside_production_the_sandbox_logs_the_sms_marked_sandbox(
    db: Database, database_url: str
):
    await seed(db, now=NOW)
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url), Clock()), "p3")
    await chat.start_in("en")
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(SAMAGRA)
    with structlog.testing.capture_logs() as events:
        code = sandbox_code(await chat.send(button="kyc:agree"))
    [sandbox] = [e for e in events if "SANDBOX" in e["event"]]
    assert code in sandbox["text"] and sandbox["to"] == "98XXXXXX10"


# --- export -----------------------------------------------------------------------------------

@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`bijli kyc export` configures logging for its process; put the test process back."""
    saved = structlog.get_config()
    levels = {name: logging.getLogger(name).level
              for name in ("telegram", "httpx", "httpcore", "twilio", "urllib3")}
    try:
        yield
    finally:
        structlog.configure(**saved)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def kyc_with_bank(db: Database, database_url: str) -> str:
    await seed(db, now=NOW)
    clock = Clock()
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url), clock), "e1")
    await chat.start_in("en")
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(SAMAGRA)
    await chat.send(sandbox_code(await chat.send(button="kyc:agree")))
    await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    await chat.send(ACCOUNT)
    await chat.send(ACCOUNT)
    await chat.send(sandbox_code(await chat.send(IFSC)))
    return database_url


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kyc_with_bank: str,
            restore_logging: None) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", kyc_with_bank)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", KEY)
    return work


def export(*args: str) -> tuple[int, list[dict[str, str]], str]:
    result = CliRunner().invoke(cli, ["kyc", "export", *args])
    return result.exit_code, list(csv.DictReader(io.StringIO(result.stdout))), result.output


def test_the_export_is_masked(cli_env: Path):
    code, rows_out, output = export()
    assert code == 0, output
    [row] = rows_out
    assert row["consumer_no"] == PAID_UP[0]
    assert (row["samagra_id"], row["verified_mobile"], row["bank_account"], row["ifsc"]) == (
        "XXXX0001", "98XXXXXX10", "XXXX9001", IFSC)
    assert row["samagra_kind"] == "member" and row["channel"] == "console"
    assert "1 KYC record exported (masked)" in output  # singular for one (ngettext)
    assert SAMAGRA not in output and ACCOUNT not in output and PAID_UP[1] not in output


def test_the_unmasked_export_is_explicit_written_privately_and_logged_without_data(
    cli_env: Path, caplog: pytest.LogCaptureFixture
):
    out = cli_env / "kyc.csv"
    with caplog.at_level(logging.INFO):
        result = CliRunner().invoke(cli, ["kyc", "export", "--unmasked", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["samagra_id"], row["verified_mobile"], row["bank_account"]) == (
        SAMAGRA, PAID_UP[1], ACCOUNT)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "kyc.export_unmasked" in caplog.text and "rows=1" in caplog.text
    for secret in (SAMAGRA, PAID_UP[1], ACCOUNT):
        assert secret not in caplog.text and secret not in result.output


def test_the_export_needs_the_key_the_data_was_encrypted_with(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", OLD_KEY)
    result = CliRunner().invoke(cli, ["kyc", "export"])
    assert result.exit_code != 0
    assert isinstance(result.exception, Undecryptable)


# --- keys -------------------------------------------------------------------------------------

def test_key_rotation_re_encrypts_so_the_old_key_can_go(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
):
    new_key = "J5p1Zl1pXHb0a4K5aC3q9YbcbxF0dQhC3ZEmN5t7u8w="
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", f"{new_key},{KEY}")
    assert export()[0] == 0  # both keys listed: old data still readable
    result = CliRunner().invoke(cli, ["kyc", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "2 rows re-encrypted" in result.output  # one KYC record, one bank account
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", new_key)
    code, [row], output = export()
    assert code == 0, output
    assert row["samagra_id"] == "XXXX0001" and row["bank_account"] == "XXXX9001"

    async def lookups() -> tuple[int, list[str]]:
        db = Database(os.environ["DATABASE_URL"])
        vault = PiiVault(parse_keys(new_key))
        try:
            async with db.uow() as uow:
                found = await kyc_records_for_samagra(uow.session, vault, SAMAGRA)
                banks = (await uow.session.scalars(select(BankAccount))).all()
            return len(found), [vault.decrypt(b.account_encrypted) for b in banks]
        finally:
            await db.dispose()

    assert asyncio.run(lookups()) == (1, [ACCOUNT])


async def test_a_lookup_finds_records_hashed_under_an_older_key(
    db: Database, database_url: str
):
    await seed(db, now=NOW)
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url, data_encryption_key=OLD_KEY),
                                 Clock()), "k1")
    await chat.start_in("en")
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(SAMAGRA)
    await chat.send(sandbox_code(await chat.send(button="kyc:agree")))
    rotated = PiiVault(parse_keys(f"{KEY},{OLD_KEY}"))
    async with db.uow() as uow:
        [record] = await kyc_records_for_samagra(uow.session, rotated, SAMAGRA)
    assert rotated.decrypt(record.samagra_id_encrypted) == SAMAGRA
    with pytest.raises(Undecryptable):  # the new key alone cannot read it before rotation
        PiiVault(parse_keys(KEY)).decrypt(record.samagra_id_encrypted)


def test_production_refuses_to_run_without_an_encryption_key(tmp_path: Path):
    settings = Settings(_env_file=None, bijli_env="production",
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert "DATA_ENCRYPTION_KEY is unset" in settings.production_problems()
    with pytest.raises(KeyProblem):
        vault_from_settings(None, settings.database_url, production=True)
    assert not (tmp_path / DEV_KEY_FILENAME).exists()


def test_the_embedded_default_keeps_a_generated_key_beside_the_database(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bijli.db'}"
    (tmp_path / "data").mkdir()
    with structlog.testing.capture_logs() as events:
        first = vault_from_settings(None, url, production=False)
    key_file = tmp_path / "data" / DEV_KEY_FILENAME
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert any("DEVELOPMENT key" in event["event"] for event in events)
    token = first.encrypt(SAMAGRA)
    again = vault_from_settings(None, url, production=False)  # a second process, same key
    assert again.decrypt(token) == SAMAGRA
    assert key_file.read_text().strip() not in repr(events)


@pytest.mark.parametrize("value", ["not-a-key", "", " , ", f"{KEY},short"])
def test_a_malformed_key_is_refused_without_repeating_it(value: str):
    with pytest.raises(KeyProblem) as refused:
        parse_keys(value)
    assert value.strip(" ,") == "" or value.split(",")[-1] not in str(refused.value)
    problems = Settings(_env_file=None, data_encryption_key=value or "x").production_problems()
    assert any("DATA_ENCRYPTION_KEY" in problem for problem in problems)


async def test_the_export_shows_the_newest_bank_account_and_a_repeat_adds_nothing(
    db: Database, database_url: str
):
    from discom.kyc.export import export_csv

    await seed(db, now=NOW)
    clock = Clock()
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url), clock), "e2")
    await chat.start_in("en")
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send(SAMAGRA)
    await chat.send(sandbox_code(await chat.send(button="kyc:agree")))
    for account, ifsc in ((ACCOUNT, IFSC), ("998877665544", "HDFC0000123"),
                          ("998877665544", "HDFC0000123")):
        clock.tick(seconds=61)
        await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
        await chat.send(account)
        await chat.send(account)
        assert "is saved" in await chat.send(sandbox_code(await chat.send(ifsc)))
    async with db.uow() as uow:
        assert len((await uow.session.scalars(select(BankAccount))).all()) == 2
    out = io.StringIO()
    assert await export_csv(db, PiiVault(parse_keys(KEY)), out) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["bank_account"], row["ifsc"]) == ("XXXX5544", "HDFC0000123")


def test_the_export_shows_the_mobile_changed_in_a_chat_after_the_kyc_and_when(
    cli_env: Path, kyc_with_bank: str
):
    async def change_mobile() -> None:
        db = Database(kyc_with_bank)
        try:
            clock = Clock()
            clock.tick(seconds=300)
            chat = ChatDriver(kyc_dialog(db, kyc_settings(kyc_with_bank), clock), "e1")
            assert "is now 90XXXXXX45" in await change_mobile_steps(
                chat, PAID_UP[0], old_masked="98XXXXXX10")
        finally:
            await db.dispose()

    _, [before], _ = export()
    asyncio.run(change_mobile())
    code, [after], output = export()

    assert code == 0, output
    assert before["verified_mobile"] == "98XXXXXX10"
    assert before["mobile_verified_at"] == before["verified_at"]
    assert after["verified_mobile"] == "90XXXXXX45"
    assert after["mobile_verified_at"] > after["verified_at"]
