"""Issue 10, High 2: a linked chat must not take over an account with someone else's Samagra
ID. The ID is checked: the one from the billing export, or the Samagra registry (the
simulator in the embedded default, the wire-level fake here), whose member's name must match
the account's. A near match waits for staff (`/ops/kyc-reviews`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY

from api.app import create_app
from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import seed
from discom.kyc.vault import PiiVault, parse_keys
from discom.models import ChatAccount, Consumer, KycRecord, KycReview, OtpChallenge
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import OPS_TOKEN, test_settings
from tests.fakes.samagra_api import API_KEY, FakeSamagraAPI
from tests.kyc_steps import (
    KEY,
    NOW,
    OVERDUE,
    PAID_UP,
    Clock,
    count,
    kyc_dialog,
    kyc_settings,
    rows,
    sandbox_code,
)

AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}
CONSENT = "Consent (version"
VAULT = PiiVault(parse_keys(KEY))


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("bijli_kyc_samagra_refused_total",
                                     {"reason": reason}) or 0.0


@pytest.fixture
async def simulated(db: Database, database_url: str) -> ChatDriver:
    """The embedded default: the Samagra simulator."""
    await seed(db, now=NOW)
    chat = ChatDriver(kyc_dialog(db, kyc_settings(database_url), Clock()), "sim")
    await chat.start_in("en")
    return chat


@pytest.fixture
async def dialog(db: Database, database_url: str, fake_samagra: FakeSamagraAPI
                 ) -> DialogService:
    """The registry over HTTP (the fake), as a deployment has it."""
    await seed(db, now=NOW)
    settings = kyc_settings(database_url, samagra_base_url=fake_samagra.base_url,
                            samagra_api_key=API_KEY, samagra_timeout_seconds=0.5)
    return kyc_dialog(db, settings, Clock())


async def chat_of(dialog: DialogService, ref: str) -> ChatDriver:
    chat = ChatDriver(dialog, ref)
    await chat.start_in("en")
    return chat


async def nothing_verified(db: Database) -> bool:
    return (await count(db, OtpChallenge) == 0 and await count(db, KycRecord) == 0
            and await count(db, ChatAccount) == 0)


# --- the embedded default ---------------------------------------------------------------------

async def test_a_made_up_samagra_id_is_refused(simulated: ChatDriver, db: Database):
    await simulated.send(f"/kyc {PAID_UP[0]}")
    answer = await simulated.send("999999999")
    assert "was not found in the Samagra register" in answer and CONSENT not in answer
    assert "98XXXXXX10" not in answer
    assert await nothing_verified(db)


async def test_another_demo_consumers_samagra_id_is_refused_and_counted(
    simulated: ChatDriver, db: Database
):
    before = refused("name_mismatch")
    await simulated.send(f"/kyc {PAID_UP[0]}")
    answer = await simulated.send("700000002")  # Sunita Sharma's, not Ramesh Kumar's
    assert "does not belong to the holder of this electricity account" in answer
    assert refused("name_mismatch") == before + 1
    assert await nothing_verified(db)


# --- the registry on the wire -----------------------------------------------------------------

async def test_a_member_whose_name_matches_the_account_goes_on_to_the_consent(
    dialog: DialogService, fake_samagra: FakeSamagraAPI, db: Database
):
    fake_samagra.add("111222333", "11122233", "RAMESH  KUMAR", "रमेश कुमार")
    chat = await chat_of(dialog, "m1")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert CONSENT in await chat.send("111 222 333")
    assert fake_samagra.requests == ["/v1/members/111222333"]
    done = await chat.send(sandbox_code(await chat.send(button="kyc:agree")))
    assert "KYC complete" in done
    [record] = await rows(db, KycRecord)
    assert VAULT.decrypt(record.samagra_id_encrypted) == "111222333"


async def test_a_family_id_is_accepted_when_the_account_holder_is_one_of_its_members(
    dialog: DialogService, fake_samagra: FakeSamagraAPI
):
    fake_samagra.add("111222331", "11122233", "Sita Devi")
    fake_samagra.add("111222332", "11122233", "R. Kumar")
    chat = await chat_of(dialog, "f1")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert CONSENT in await chat.send("11122233")
    assert fake_samagra.requests == ["/v1/families/11122233"]


@pytest.mark.parametrize("name", ["Sunita Sharma", "Suresh Kumar"])
async def test_another_persons_member_id_is_refused_even_in_the_same_family(
    dialog: DialogService, fake_samagra: FakeSamagraAPI, db: Database, name: str
):
    fake_samagra.add("111222334", "11122233", name)
    chat = await chat_of(dialog, "x1")
    await chat.send(f"/kyc {PAID_UP[0]}")
    answer = await chat.send("111222334")
    assert "does not belong to the holder" in answer and "98XXXXXX10" not in answer
    assert await nothing_verified(db)


async def test_an_unknown_member_id_is_not_found(dialog: DialogService, db: Database):
    chat = await chat_of(dialog, "u1")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert "not found in the Samagra register" in await chat.send("999999999")
    assert await nothing_verified(db)


@pytest.mark.parametrize("trouble", ["503", "timeout", "401"])
async def test_an_unavailable_registry_means_try_later_and_nothing_is_recorded(
    dialog: DialogService, fake_samagra: FakeSamagraAPI, db: Database, trouble: str
):
    fake_samagra.add("111222333", "11122233", "Ramesh Kumar")
    if trouble == "503":
        fake_samagra.status_next(503)
    elif trouble == "401":
        fake_samagra.status_next(401)
    else:
        fake_samagra.delay_seconds = 1.0  # past SAMAGRA_TIMEOUT_SECONDS (0.5)
    chat = await chat_of(dialog, "t1")
    await chat.send(f"/kyc {PAID_UP[0]}")
    answer = await chat.send("111222333")
    assert "cannot check Samagra IDs right now" in answer and CONSENT not in answer
    assert await nothing_verified(db)
    fake_samagra.delay_seconds = 0
    assert CONSENT in await chat.send("111222333")  # the same step, once it answers


# --- the Samagra ID from the billing export ---------------------------------------------------

async def imported_samagra(db: Database, consumer_no: str, samagra_id: str) -> None:
    async with db.uow() as uow:
        consumer = await uow.session.scalar(
            Consumer.__table__.select().where(Consumer.consumer_no == consumer_no))
        assert consumer is not None
        await uow.session.execute(
            Consumer.__table__.update().where(Consumer.consumer_no == consumer_no).values(
                samagra_id_encrypted=VAULT.encrypt(samagra_id),
                samagra_id_hash=VAULT.lookup_hash("samagra", samagra_id)))
        await uow.commit()


async def test_an_imported_samagra_id_must_be_typed_and_the_registry_is_not_asked(
    dialog: DialogService, fake_samagra: FakeSamagraAPI, db: Database
):
    fake_samagra.add("111222333", "11122233", "Ramesh Kumar")  # would match by name
    await imported_samagra(db, PAID_UP[0], "444555666")
    chat = await chat_of(dialog, "i1")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert "does not belong to the holder" in await chat.send("111222333")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert CONSENT in await chat.send("444555666")
    assert fake_samagra.requests == []


# --- a near match: staff review ---------------------------------------------------------------

@pytest.fixture
async def app_client(db: Database, database_url: str, fake_samagra: FakeSamagraAPI
                     ) -> AsyncIterator[httpx.AsyncClient]:
    await seed(db, now=NOW)
    settings = test_settings(database_url, data_encryption_key=KEY,
                             samagra_base_url=fake_samagra.base_url, samagra_api_key=API_KEY)
    app = create_app(settings)
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bijli.test") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def test_a_near_match_goes_to_staff_and_their_approval_lets_the_kyc_go_on(
    app_client: httpx.AsyncClient, fake_samagra: FakeSamagraAPI, db: Database
):
    fake_samagra.add("123456789", "12345678", "Ramesh Kumar Verma")  # the account: Ramesh Kumar
    chat = await chat_of(app_client.app.state.services.dialog, "n1")  # type: ignore[attr-defined]
    await chat.send(f"/kyc {PAID_UP[0]}")
    answer = await chat.send("123456789")
    assert "a discom officer will check it" in answer and CONSENT not in answer
    assert await nothing_verified(db)

    assert (await app_client.get("/ops/kyc-reviews")).status_code == 401
    listed = (await app_client.get("/ops/kyc-reviews", headers=AUTH)).json()
    [review] = listed
    assert (review["kind"], review["consumer_no"], review["registry_name"],
            review["name_on_account"], review["samagra_id"]) == (
        "name_near", PAID_UP[0], "Ramesh Kumar Verma", "Ramesh Kumar", "XXXX6789")

    url = f"/ops/kyc-reviews/{review['review_id']}/decision"
    no_operator = await app_client.post(url, headers=AUTH, json={"decision": "approve"})
    assert no_operator.status_code == 422
    [still] = await rows(db, KycReview)
    assert still.status == "pending"
    approved = await app_client.post(url, headers={**AUTH, "X-Operator": "asha.jain"},
                                     json={"decision": "approve"})
    assert approved.status_code == 200
    again = await app_client.post(url, headers={**AUTH, "X-Operator": "asha.jain"},
                                  json={"decision": "reject"})
    assert again.status_code == 409
    [decided] = await rows(db, KycReview)
    assert (decided.status, decided.decided_by) == ("approved", "asha.jain")

    await chat.send(f"/kyc {PAID_UP[0]}")
    assert CONSENT in await chat.send("123456789")


async def test_an_approval_is_for_that_account_only(
    app_client: httpx.AsyncClient, fake_samagra: FakeSamagraAPI, db: Database
):
    fake_samagra.add("123456789", "12345678", "Ramesh Kumar Verma")
    chat = await chat_of(app_client.app.state.services.dialog, "n2")  # type: ignore[attr-defined]
    await chat.send(f"/kyc {PAID_UP[0]}")
    await chat.send("123456789")
    [review] = (await app_client.get("/ops/kyc-reviews", headers=AUTH)).json()
    await app_client.post(f"/ops/kyc-reviews/{review['review_id']}/decision",
                          headers={**AUTH, "X-Operator": "ops"}, json={"decision": "approve"})
    await chat.send(f"/kyc {OVERDUE[0]}")
    assert "does not belong to the holder" in await chat.send("123456789")


# --- the samagra_id column of consumers.csv ---------------------------------------------------

CONSUMERS_CSV = ("consumer_no,name,mobile,tariff_category,division,samagra_id\n"
                 "1000000001,Ramesh Kumar,9876543210,LV1,Indore,४४४५५५६६६\n"
                 "1000000002,Sunita Sharma,9812345670,LV1,Indore,\n"
                 "1000000003,Abdul Rahman,9898989898,LV1,Indore,12345\n")


async def test_the_billing_exports_samagra_id_is_stored_encrypted_and_decides_the_kyc(
    dialog: DialogService, fake_samagra: FakeSamagraAPI, db: Database, tmp_path
):
    from discom.importer import import_csv

    path = tmp_path / "consumers.csv"
    path.write_text(CONSUMERS_CSV, encoding="utf-8")
    report = await import_csv(db, "consumers", path, pii_vault=lambda: VAULT)
    # A bad Samagra ID is a warning (the consumer is imported without it), never echoed.
    assert report.errors == []
    [warning] = report.warnings
    assert warning.line == 4 and "samagra_id" in warning.message
    assert "12345" not in warning.message
    [ramesh] = await rows(db, Consumer, Consumer.consumer_no == PAID_UP[0])
    assert "444555666" not in (ramesh.samagra_id_encrypted or "")
    assert VAULT.decrypt(ramesh.samagra_id_encrypted or "") == "444555666"

    fake_samagra.add("111222333", "11122233", "Ramesh Kumar")
    chat = await chat_of(dialog, "csv")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert "does not belong to the holder" in await chat.send("111222333")
    await chat.send(f"/kyc {PAID_UP[0]}")
    assert CONSENT in await chat.send("444555666")
    assert fake_samagra.requests == []


async def test_a_samagra_id_column_without_an_encryption_key_imports_nothing(
    db: Database, tmp_path
):
    from discom.importer import ImportFileError, import_csv

    path = tmp_path / "consumers.csv"
    path.write_text(CONSUMERS_CSV, encoding="utf-8")
    before = await count(db, Consumer)
    with pytest.raises(ImportFileError, match="encryption key"):
        await import_csv(db, "consumers", path)
    assert await count(db, Consumer) == before


# --- no transaction waits on the registry -----------------------------------------------------

async def test_while_the_registry_is_slow_other_chats_are_answered_at_once(
    db: Database, database_url: str, fake_samagra: FakeSamagraAPI
):
    import asyncio
    import time

    await seed(db, now=NOW)
    settings = kyc_settings(database_url, samagra_base_url=fake_samagra.base_url,
                            samagra_api_key=API_KEY, samagra_timeout_seconds=5)
    dialog = kyc_dialog(db, settings, Clock())
    fake_samagra.add("111222333", "11122233", "Ramesh Kumar")
    holder, other = await chat_of(dialog, "slow"), await chat_of(dialog, "other")
    await holder.send(f"/kyc {PAID_UP[0]}")
    fake_samagra.delay_seconds = 2.0
    checking = asyncio.create_task(holder.send("111222333"))
    # The fake runs on its own thread: poll until the look-up has reached it.
    while not fake_samagra.requests:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    started = time.monotonic()
    answer = await other.send(f"/dues {OVERDUE[0]}")
    took = time.monotonic() - started
    assert f"Consumer {OVERDUE[0]}" in answer
    assert not checking.done() and took < 1.0, took
    assert CONSENT in await checking
    assert fake_samagra.requests == ["/v1/members/111222333"]  # asked once, before the turn
