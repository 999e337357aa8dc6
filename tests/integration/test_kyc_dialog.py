"""Use case: a consumer completes KYC in the chat (console channel, the embedded default's
sandbox sender: the SMS is shown on the console), then updates the mobile or adds a bank
account — and every way of abusing the OTP fails politely."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.dialog.engine import DialogService
from discom.db import Database
from discom.demo import seed
from discom.kyc.vault import PiiVault, parse_keys
from discom.models import (
    BankAccount,
    Chat,
    ChatAccount,
    Consumer,
    KycRecord,
    MobileChange,
    OtpChallenge,
)
from tests.drivers import ChatDriver
from tests.kyc_steps import (
    ACCOUNT_NO,
    DUE_SOON,
    IFSC,
    KEY,
    NEW_MOBILE,
    NO_MOBILE,
    NOW,
    OVERDUE,
    PAID_UP,
    SAMAGRA_MEMBER,
    Clock,
    ask_code,
    complete_kyc,
    count,
    family_of,
    kyc_dialog,
    kyc_settings,
    rows,
    sandbox_code,
    sandbox_code_to,
    share_contact,
    up_to_consent,
)

WARNING_EN = "The discom never asks for your OTP on a phone call"
WARNING_HI = "बिजली कंपनी कभी भी फ़ोन कॉल पर आपका OTP नहीं माँगती"
NOT_VALID = "That code did not work"
VAULT = PiiVault(parse_keys(KEY))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def dialog(db: Database, database_url: str, clock: Clock) -> DialogService:
    await seed(db, now=NOW)
    return kyc_dialog(db, kyc_settings(database_url), clock)


@pytest.fixture
async def chat(dialog: DialogService) -> ChatDriver:
    driver = ChatDriver(dialog, "meena")
    await driver.start_in("en")
    return driver


async def chat_in(dialog: DialogService, ref: str, language: str = "en") -> ChatDriver:
    driver = ChatDriver(dialog, ref)
    await driver.start_in(language)
    return driver


# --- the happy path ---------------------------------------------------------------------------

async def test_kyc_in_english_verifies_the_mobile_records_the_consent_and_links_the_chat(
    chat: ChatDriver, db: Database
):
    consumer_no, mobile = PAID_UP
    assert "consumer number" in await chat.send("/kyc")
    assert "Samagra ID" in await chat.send(consumer_no)
    consent = await chat.send(SAMAGRA_MEMBER)
    assert "Consent (version" in consent and "Digital Personal Data Protection Act" in consent
    assert [b.id for b in chat.last[-1].flat_buttons] == ["kyc:agree", "kyc:decline"]
    sent = await chat.send(button="kyc:agree")
    assert "registered mobile 98XXXXXX10" in sent and "valid for 10 minutes" in sent
    done = await chat.send(sandbox_code(sent))
    assert f"KYC complete for consumer {consumer_no}" in done
    assert "Samagra ID: XXXX0001" in done and "Verified mobile: 98XXXXXX10" in done
    assert SAMAGRA_MEMBER not in done and mobile not in done

    [record] = await rows(db, KycRecord)
    assert (record.samagra_kind, record.verified_mobile, record.channel) == (
        "member", mobile, "console")
    assert SAMAGRA_MEMBER not in record.samagra_id_encrypted
    assert VAULT.decrypt(record.samagra_id_encrypted) == SAMAGRA_MEMBER
    assert record.consent_language == "en" and record.consent_version
    assert record.consent_text.startswith("Consent (version")
    assert await count(db, ChatAccount) == 1
    # Linked: dues need no consumer number any more.
    dues = await chat.send("/dues")
    assert f"Consumer {consumer_no}" in dues and "Nothing to pay" in dues


async def test_kyc_in_hindi_with_devanagari_digits_and_a_family_id(dialog: DialogService,
                                                                   db: Database):
    chat = await chat_in(dialog, "rekha", "hi")
    consumer_no, _ = DUE_SOON
    devanagari = str.maketrans("0123456789", "०१२३४५६७८९")
    assert "उपभोक्ता क्रमांक" in await chat.send("केवाईसी")
    assert "समग्र आईडी" in await chat.send(consumer_no.translate(devanagari))
    assert "सहमति" in await chat.send(family_of(consumer_no).translate(devanagari))
    sent = await chat.send("हाँ")
    assert "पंजीकृत मोबाइल 98XXXXXX70" in sent
    code = sandbox_code(sent)
    done = await chat.send(" ".join([code[:3].translate(devanagari), code[3:]]))
    assert f"उपभोक्ता {consumer_no} का केवाईसी पूरा हुआ" in done and "XXXX0002" in done
    [record] = await rows(db, KycRecord)
    assert record.samagra_kind == "family" and record.consent_language == "hi"
    assert record.consent_text.startswith("सहमति")


async def test_every_kyc_message_carries_the_never_share_your_otp_warning(
    chat: ChatDriver, dialog: DialogService
):
    answers = [await chat.send("/kyc"), await chat.send(PAID_UP[0]),
               await up_to_consent(chat, PAID_UP[0]), await chat.send(button="kyc:agree"),
               await chat.send("000000")]
    assert all(WARNING_EN in answer for answer in answers)
    sms = answers[3].split(":\n", 1)[1]
    assert "The discom never asks for an OTP on a call" in sms
    hindi = await chat_in(dialog, "h", "hi")
    assert WARNING_HI in await hindi.send("/kyc")


async def test_a_chat_can_link_several_accounts_and_choose(chat: ChatDriver, clock: Clock):
    await complete_kyc(chat, PAID_UP[0])
    clock.tick(seconds=61)
    await complete_kyc(chat, OVERDUE[0])
    assert "Which account?" in await chat.send("/dues")
    assert [b.id for b in chat.last[-1].flat_buttons] == [
        f"acct:{PAID_UP[0]}", f"acct:{OVERDUE[0]}"]
    options = await chat.send("/kyc")
    assert f"Update mobile ({OVERDUE[0]})" in options


async def test_kyc_is_on_the_menu_when_wired(chat: ChatDriver):
    await chat.send("menu")
    assert "menu:kyc" in [b.id for b in chat.last[-1].flat_buttons]
    assert "consumer number" in await chat.send(button="menu:kyc")


# --- abuse of the OTP -------------------------------------------------------------------------

async def test_five_wrong_codes_lock_the_code_so_even_the_right_one_fails(
    chat: ChatDriver, db: Database
):
    code = sandbox_code(await ask_code(chat, PAID_UP[0]))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        assert NOT_VALID in await chat.send(wrong)
    assert "too many wrong codes" in await chat.send(wrong)
    assert NOT_VALID in await chat.send(code)
    assert await count(db, KycRecord) == 0 and await count(db, ChatAccount) == 0
    [challenge] = await rows(db, OtpChallenge)
    assert (challenge.status, challenge.tries) == ("locked", 5)


async def test_an_expired_code_is_answered_like_a_wrong_one(
    chat: ChatDriver, clock: Clock, db: Database
):
    code = sandbox_code(await ask_code(chat, PAID_UP[0]))
    clock.tick(minutes=10, seconds=1)
    assert NOT_VALID in await chat.send(code)
    assert await count(db, KycRecord) == 0


async def test_a_code_still_works_just_before_it_expires(chat: ChatDriver, clock: Clock):
    code = sandbox_code(await ask_code(chat, PAID_UP[0]))
    clock.tick(minutes=9, seconds=59)
    assert "KYC complete" in await chat.send(code)


async def test_a_used_code_cannot_be_used_again(chat: ChatDriver, clock: Clock, db: Database):
    first = sandbox_code(await ask_code(chat, PAID_UP[0]))
    assert "KYC complete" in await chat.send(first)
    clock.tick(seconds=61)
    second = sandbox_code(await ask_code(chat, PAID_UP[0]))
    if second != first:  # one chance in a million that the new code is the same
        assert NOT_VALID in await chat.send(first)
    assert "KYC complete" in await chat.send(second)
    assert await count(db, KycRecord) == 2


async def test_a_code_replayed_right_after_it_was_used_does_not_verify_again(
    chat: ChatDriver, db: Database
):
    code = sandbox_code(await ask_code(chat, PAID_UP[0]))
    assert "KYC complete" in await chat.send(code)
    again = await ask_code(chat, PAID_UP[0])  # within the minute: no new code
    assert "new code in 60 seconds" in again and "please type it" not in again
    assert NOT_VALID in await chat.send(code)
    assert await count(db, KycRecord) == 1


async def test_a_new_code_too_soon_is_refused_with_the_wait_and_the_old_code_still_works(
    chat: ChatDriver, clock: Clock
):
    first = sandbox_code(await ask_code(chat, PAID_UP[0]))
    assert "new code in 60 seconds" in await chat.send(button="kyc:resend")
    clock.tick(seconds=45)
    assert "new code in 15 seconds" in await chat.send("resend")
    assert "KYC complete" in await chat.send(first)


async def test_a_new_code_replaces_the_old_one(chat: ChatDriver, clock: Clock):
    first = sandbox_code(await ask_code(chat, PAID_UP[0]))
    clock.tick(seconds=61)
    second = sandbox_code(await chat.send(button="kyc:resend"))
    if second != first:
        assert NOT_VALID in await chat.send(first)
    assert "KYC complete" in await chat.send(second)


async def test_no_more_than_three_codes_an_hour_go_to_one_consumer(
    dialog: DialogService, clock: Clock, db: Database
):
    a, b = await chat_in(dialog, "a"), await chat_in(dialog, "b")
    await ask_code(a, PAID_UP[0])
    clock.tick(seconds=61)
    await a.send(button="kyc:resend")
    clock.tick(seconds=61)
    await ask_code(b, PAID_UP[0])
    clock.tick(seconds=61)
    refused = await a.send(button="kyc:resend")
    assert "Too many codes have been asked for" in refused and "SANDBOX" not in refused
    # The other chat is told the same, and nothing about who asked.
    assert "Too many codes have been asked for" in await ask_code(b, PAID_UP[0])
    assert await count(db, OtpChallenge) == 3
    clock.tick(hours=1)
    assert "SANDBOX" in await ask_code(a, PAID_UP[0])


async def test_no_more_than_three_codes_an_hour_go_from_one_chat(
    chat: ChatDriver, clock: Clock, db: Database
):
    for consumer_no in (PAID_UP[0], DUE_SOON[0], OVERDUE[0]):
        assert "SANDBOX" in await ask_code(chat, consumer_no)
        clock.tick(seconds=61)
    refused = await ask_code(chat, demo_other := "1000000007")
    assert "Too many codes have been asked for" in refused
    assert await count(db, OtpChallenge, OtpChallenge.consumer_id.is_not(None)) == 3
    assert demo_other not in refused


async def test_a_second_chat_cannot_flood_the_same_phone_within_a_minute(
    dialog: DialogService
):
    a, b = await chat_in(dialog, "a"), await chat_in(dialog, "b")
    await ask_code(a, PAID_UP[0])
    refused = await ask_code(b, PAID_UP[0])
    assert "Too many codes have been asked for" in refused
    assert "seconds" not in refused  # nothing about another chat's code


async def test_a_code_for_one_consumer_typed_in_another_chat_does_not_work(
    dialog: DialogService, db: Database
):
    owner, other = await chat_in(dialog, "owner"), await chat_in(dialog, "other")
    code = sandbox_code(await ask_code(owner, PAID_UP[0]))
    await ask_code(other, OVERDUE[0])
    assert NOT_VALID in await other.send(code)
    assert await count(db, ChatAccount) == 0
    assert "KYC complete" in await owner.send(code)


# --- what the consumer types ------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["1234567", "1234567890", "12345678A", "ABCDEFGHI",
                                   "१२३४५६७", "12345 67 8 9 0"])
async def test_a_samagra_id_of_the_wrong_length_or_with_letters_is_explained(
    chat: ChatDriver, typed: str
):
    await chat.send("/kyc")
    await chat.send(PAID_UP[0])
    assert "9 for a member ID, 8 for a family ID" in await chat.send(typed)
    assert "Consent" in await chat.send(SAMAGRA_MEMBER)


async def test_three_bad_samagra_ids_lead_back_to_the_menu(chat: ChatDriver, db: Database):
    await chat.send("/kyc")
    await chat.send(PAID_UP[0])
    await chat.send("12")
    await chat.send("abc")
    answer = await chat.send("1234")
    assert "start again with /kyc" in answer and "What would you like to do?" in answer
    assert await count(db, OtpChallenge) == 0


async def test_a_consumer_without_a_registered_mobile_is_told_how_to_register_and_no_code_goes(
    chat: ChatDriver, db: Database
):
    answer = await chat.send(f"/kyc {NO_MOBILE[0]}")
    assert "a mobile number may not be registered" in answer
    assert "distribution centre" in answer and "1912" in answer
    assert "Samagra" not in answer and "SANDBOX" not in answer
    assert await count(db, OtpChallenge) == 0


async def test_declining_the_consent_saves_nothing(chat: ChatDriver, db: Database):
    await up_to_consent(chat, PAID_UP[0])
    assert "Nothing was saved" in await chat.send(button="kyc:decline")
    assert await count(db, OtpChallenge) == 0 and await count(db, KycRecord) == 0


async def test_the_samagra_id_waits_between_steps_encrypted(chat: ChatDriver, db: Database):
    from discom.models import Conversation

    await up_to_consent(chat, PAID_UP[0])
    async with db.uow() as uow:
        [data] = (await uow.session.scalars(select(Conversation.data))).all()
    assert SAMAGRA_MEMBER not in repr(data)


async def test_an_old_agree_button_after_the_step_is_over_does_nothing(
    chat: ChatDriver, db: Database
):
    await up_to_consent(chat, PAID_UP[0])
    await chat.send("menu")
    assert "That step is already over" in await chat.send(button="kyc:agree")
    assert await count(db, OtpChallenge) == 0


# --- a new mobile -----------------------------------------------------------------------------

async def test_a_new_mobile_needs_the_old_numbers_code_and_the_new_numbers_code(
    chat: ChatDriver, clock: Clock, db: Database
):
    consumer_no, old = PAID_UP
    await complete_kyc(chat, consumer_no)
    assert "send the new 10-digit mobile number" in await chat.send(
        button=f"kyc:mobile:{consumer_no}")
    assert chat.last[-1].ask_contact  # Telegram shows "share my phone number"
    sent = await chat.send("90000 12345")
    assert "registered number 98XXXXXX10" in sent and "new number 90XXXXXX45" in sent
    old_code, new_code = sandbox_code_to(sent, "98XXXXXX10"), sandbox_code_to(sent, "90XXXXXX45")
    # The new number's code alone is not enough: the old number's holder goes first.
    assert NOT_VALID in await chat.send(new_code)
    assert "code sent to the new number 90XXXXXX45" in await chat.send(old_code)
    async with db.uow() as uow:
        assert (await uow.session.scalar(select(Consumer.mobile).where(
            Consumer.consumer_no == consumer_no))) == old  # nothing changed yet
    done = await chat.send(new_code)
    assert f"registered mobile of consumer {consumer_no} is now 90XXXXXX45" in done
    [change] = await rows(db, MobileChange)
    assert (change.old_mobile, change.new_mobile, change.old_mobile_notified) == (
        old, NEW_MOBILE, True)
    async with db.uow() as uow:
        assert (await uow.session.scalar(select(Consumer.mobile).where(
            Consumer.consumer_no == consumer_no))) == NEW_MOBILE


async def test_a_wrong_code_from_the_old_number_changes_nothing(chat: ChatDriver, db: Database):
    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:mobile:{PAID_UP[0]}")
    sent = await chat.send(NEW_MOBILE)
    code = sandbox_code_to(sent, "98XXXXXX10")
    assert NOT_VALID in await chat.send(f"{(int(code) + 7) % 1_000_000:06d}")
    assert NOT_VALID in await chat.send(sandbox_code_to(sent, "90XXXXXX45"))
    assert await count(db, MobileChange) == 0


async def test_a_consumer_who_lost_the_old_number_gets_a_staff_review_not_a_change(
    chat: ChatDriver, db: Database
):
    from discom.models import KycReview

    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:mobile:{PAID_UP[0]}")
    sent = await chat.send(NEW_MOBILE)
    offered = [b.id for reply in chat.last for b in reply.flat_buttons]
    assert f"kyc:lost:{PAID_UP[0]}" in offered
    answer = await chat.send(button=f"kyc:lost:{PAID_UP[0]}")
    assert "discom officer will review" in answer
    [review] = await rows(db, KycReview)
    assert (review.kind, review.status) == ("lost_mobile", "pending")
    # The new number's code alone still changes nothing.
    assert NOT_VALID not in await chat.send(sandbox_code_to(sent, "90XXXXXX45"))
    assert await count(db, MobileChange) == 0


async def test_the_same_or_an_invalid_number_is_explained(chat: ChatDriver):
    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:mobile:{PAID_UP[0]}")
    assert "not a valid Indian mobile number" in await chat.send("12345")
    assert "already the registered number" in await chat.send(PAID_UP[1])


async def test_only_a_linked_chat_may_change_an_accounts_mobile(chat: ChatDriver, db: Database):
    answer = await chat.send(button=f"kyc:mobile:{PAID_UP[0]}")
    assert f"not linked to consumer {PAID_UP[0]}" in answer
    answer = await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    assert f"not linked to consumer {PAID_UP[0]}" in answer
    assert await count(db, OtpChallenge) == 0


async def test_a_shared_phone_number_only_prefills_the_new_mobile(
    dialog: DialogService, db: Database
):
    chat = await chat_in(dialog, "555")
    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:mobile:{PAID_UP[0]}")
    challenges = await count(db, OtpChallenge)
    asked = await share_contact(dialog, "555", "919000012345")
    assert "Send an OTP to 90XXXXXX45" in asked
    assert await count(db, OtpChallenge) == challenges  # nothing sent on a share alone
    sent = await chat.send(button="kyc:send_code")
    assert "new number 90XXXXXX45" in sent
    assert await count(db, MobileChange) == 0  # and nothing changed without the codes
    await chat.send(sandbox_code_to(sent, "98XXXXXX10"))
    assert "is now 90XXXXXX45" in await chat.send(sandbox_code_to(sent, "90XXXXXX45"))


async def test_a_shared_phone_number_never_stands_in_for_a_code(
    dialog: DialogService, db: Database
):
    chat = await chat_in(dialog, "556")
    await ask_code(chat, PAID_UP[0])
    answer = await share_contact(dialog, "556", PAID_UP[1])
    assert "does not replace the code" in answer and "98XXXXXX10" in answer
    assert await count(db, KycRecord) == 0


async def test_a_shared_phone_number_outside_kyc_is_text_only(dialog: DialogService):
    await chat_in(dialog, "557")
    assert "I can only read text messages" in await share_contact(dialog, "557", PAID_UP[1])


# --- a bank account ---------------------------------------------------------------------------

async def test_a_bank_account_typed_twice_is_saved_encrypted_and_shown_masked(
    chat: ChatDriver, db: Database
):
    await complete_kyc(chat, PAID_UP[0])
    assert "bank account number" in await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    assert "once more" in await chat.send(ACCOUNT_NO)
    assert "IFSC" in await chat.send("0012 3456 7890")
    sent = await chat.send("sbin0001234")
    assert "registered mobile 98XXXXXX10" in sent
    assert await count(db, BankAccount) == 0  # not before the registered mobile's code
    done = await chat.send(sandbox_code(sent))
    assert f"Bank account XXXX7890 (IFSC {IFSC}) is saved for consumer {PAID_UP[0]}" in done
    assert ACCOUNT_NO not in done
    [bank] = await rows(db, BankAccount)
    assert (bank.account_last4, bank.ifsc) == ("7890", IFSC)
    assert ACCOUNT_NO not in bank.account_encrypted
    assert VAULT.decrypt(bank.account_encrypted) == ACCOUNT_NO


async def test_a_different_second_entry_starts_the_account_again(
    chat: ChatDriver, db: Database
):
    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    await chat.send(ACCOUNT_NO)
    assert "were not the same" in await chat.send("001234567891")
    assert "once more" in await chat.send("5550001111")
    assert "IFSC" in await chat.send("5550001111")
    assert "XXXX1111" in await chat.send(sandbox_code(await chat.send(IFSC)))
    assert await count(db, BankAccount) == 1


@pytest.mark.parametrize("ifsc", ["SBIN1001234", "SBI0001234", "SBIN00012345", "12340001234",
                                  "SBIN000123@"])
async def test_a_malformed_ifsc_is_explained(chat: ChatDriver, db: Database, ifsc: str):
    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    await chat.send(ACCOUNT_NO)
    await chat.send(ACCOUNT_NO)
    assert "4 letters, a zero, then 6 letters or digits" in await chat.send(ifsc)
    assert await count(db, BankAccount) == 0


@pytest.mark.parametrize("typed", ["12345678", "1234567890123456789", "12AB5678901", "000000000"])
async def test_a_malformed_account_number_is_explained(chat: ChatDriver, typed: str):
    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    assert "9 to 18 digits" in await chat.send(typed)


async def test_the_bank_account_waits_between_steps_encrypted(chat: ChatDriver, db: Database):
    from discom.models import Conversation

    await complete_kyc(chat, PAID_UP[0])
    await chat.send(button=f"kyc:bank:{PAID_UP[0]}")
    await chat.send(ACCOUNT_NO)
    async with db.uow() as uow:
        chat_id = await uow.session.scalar(select(Chat.id).where(Chat.external_id == "meena"))
        data = await uow.session.scalar(select(Conversation.data).where(
            Conversation.chat_id == chat_id))
    assert ACCOUNT_NO not in repr(data)
