"""A linked chat updates the account: a new mobile, a bank account.

- A new mobile needs a code to the old registered number (its holder agrees) and one to the
  new number (it is theirs), typed in that order; who lost the old number asks for a staff
  review (`KycReview`), never a change.
- A bank account (subsidy money goes there) is typed twice, its IFSC checked, and saved only
  with a code sent to the registered mobile, which is told by SMS (the outbox) after every
  change.
"""

from __future__ import annotations

from bot.dialog.kyc_codes import (
    OTP_STATES,
    kyc_of,
    linked_or_told,
    minutes_of,
    not_verified,
    reserve,
    retry,
    say,
    send_after_commit,
    tell_refused,
)
from bot.dialog.menu import show_menu
from bot.dialog.messages import Button
from bot.dialog.turn import State, Turn
from discom.identifiers import (
    InvalidIdentifier,
    mask_mobile,
    mask_tail,
    normalise_bank_account,
    normalise_ifsc,
    normalise_mobile,
)
from discom.kyc.identity import ask_for_review
from discom.kyc.notices import tell_bank_account_changed
from discom.kyc.otp import Checked, Refused, Reserved
from discom.kyc.records import BANK_ACCOUNT, change_mobile, save_bank_account
from discom.models import OtpChallenge

# --- a new mobile -----------------------------------------------------------------------------

async def start_mobile_change(turn: Turn, consumer_no: str) -> State:
    consumer = await linked_or_told(turn, consumer_no)
    if consumer is None:
        return await show_menu(turn)
    turn.data.clear()
    turn.data.update(consumer_id=consumer.id, consumer_no=consumer.consumer_no)
    say(turn, "kyc.ask_new_mobile", mobile=mask_mobile(consumer.mobile or ""),
        ask_contact=True)
    return State.KYC_NEW_MOBILE


async def on_new_mobile(turn: Turn, text: str) -> State:
    try:
        mobile = normalise_mobile(text)
    except InvalidIdentifier:
        return await retry(turn, "kyc.invalid_mobile", state=State.KYC_NEW_MOBILE)
    return await send_mobile_codes(turn, mobile)


async def send_mobile_codes(turn: Turn, mobile: str, *, only: str | None = None) -> State:
    """A code to the old registered number (its holder must agree) and one to the new number
    (it must be theirs); `only` re-sends one of them."""
    consumer = await linked_or_told(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None or not mobile:
        return await show_menu(turn)
    if mobile == consumer.mobile:
        turn.data.clear()
        say(turn, "kyc.same_mobile", mobile=mask_mobile(mobile),
            consumer_no=consumer.consumer_no)
        return await show_menu(turn)
    if not consumer.mobile:  # no old number to ask (removed at the office): staff decide
        return await lost_old_mobile(turn, consumer.consumer_no)
    turn.data.pop("offered_mobile", None)
    turn.data.pop("tries", None)
    if only is None:
        turn.data.pop("old_proved", None)
    turn.data["new_mobile"] = mobile
    waiting = State.KYC_MOBILE_OTP if turn.data.get("old_proved") else State.KYC_OLD_MOBILE_OTP
    sends = [("mobile_old", consumer.mobile, "sms.mobile_old_otp"),
             ("mobile_change", mobile, "sms.mobile_change_otp")]
    reserved: list[Reserved] = []
    for purpose, target, sms_key in sends:
        if only not in (None, purpose):
            continue
        outcome = await reserve(turn, purpose, consumer, target, sms_key)
        if isinstance(outcome, Refused):
            await _withdraw(turn, reserved)
            return await tell_refused(turn, outcome, waiting)
        reserved.append(outcome)
    for one in reserved:
        send_after_commit(turn, one, None)
    if only is None or only == OTP_STATES[waiting]:
        say(turn, "kyc.mobile_otps_sent" if only is None else "kyc.mobile_otp_resent",
            old=mask_mobile(consumer.mobile), mobile=mask_mobile(mobile),
            minutes=minutes_of(turn), consumer_no=consumer.consumer_no,
            buttons=_mobile_buttons(turn, consumer.consumer_no))
    return waiting


def _mobile_buttons(turn: Turn, consumer_no: str) -> tuple[tuple[Button, ...], ...]:
    return ((Button("kyc:resend", turn.t("kyc.resend")),),
            (Button(f"kyc:lost:{consumer_no}", turn.t("kyc.button_lost_mobile")),),
            (Button("kyc:done", turn.t("kyc.button_done")),))


async def _withdraw(turn: Turn, reserved: list[Reserved]) -> None:
    """Codes recorded in this turn that will not be sent after all (not counted)."""
    for one in reserved:
        challenge = await turn.session.get(OtpChallenge, one.challenge_id)
        if challenge is not None:
            challenge.status = "failed"
    await turn.session.flush()


async def old_mobile_proved(turn: Turn, checked: Checked) -> State:
    """The old number's holder typed their code: now the new number's code."""
    challenge = checked.challenge
    if challenge is None:  # only a verified code carries its challenge
        return not_verified(turn, Checked(ok=False))
    if not await kyc_of(turn).otp.consume(turn.session, challenge, turn.now):
        return not_verified(turn, Checked(ok=False))
    turn.data["old_proved"] = challenge.id
    say(turn, "kyc.old_mobile_proved", mobile=mask_mobile(str(turn.data.get("new_mobile", ""))))
    return State.KYC_MOBILE_OTP


async def complete_mobile_change(turn: Turn, checked: Checked) -> State:
    """The new number is proved too (the old one was, in the step before)."""
    kyc, challenge = kyc_of(turn), checked.challenge
    if challenge is None:  # only a verified code carries its challenge
        return not_verified(turn, Checked(ok=False))
    consumer = await linked_or_told(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None:
        return await show_menu(turn)
    old_proof = turn.data.get("old_proved")
    old_challenge = (await turn.session.get(OtpChallenge, int(old_proof))
                     if old_proof else None)
    if (old_challenge is None or old_challenge.status != "verified"
            or old_challenge.consumer_id != consumer.id
            or old_challenge.target_mobile != consumer.mobile):
        return not_verified(turn, Checked(ok=False))
    if not await kyc.otp.consume(turn.session, challenge, turn.now):
        return not_verified(turn, Checked(ok=False))
    old, new = consumer.mobile, challenge.target_mobile
    await change_mobile(turn.session, challenge=challenge, old_notified=True, now=turn.now)
    turn.data.clear()
    say(turn, "kyc.mobile_changed", consumer_no=consumer.consumer_no,
        mobile=mask_mobile(new), old=mask_mobile(old or ""))
    return await show_menu(turn)


async def lost_old_mobile(turn: Turn, consumer_no: str) -> State:
    """No access to the old number: staff decide (the change is never made from here)."""
    consumer = await linked_or_told(turn, consumer_no)
    if consumer is None:
        return await show_menu(turn)
    await ask_for_review(turn.session, kyc_of(turn).vault, kind="lost_mobile",
                         consumer_id=consumer.id, chat_id=turn.chat.id, now=turn.now)
    turn.data.clear()
    say(turn, "kyc.lost_mobile_review", consumer_no=consumer.consumer_no)
    return await show_menu(turn)


# --- a bank account ---------------------------------------------------------------------------

async def start_bank_account(turn: Turn, consumer_no: str) -> State:
    consumer = await linked_or_told(turn, consumer_no)
    if consumer is None:
        return await show_menu(turn)
    turn.data.clear()
    turn.data.update(consumer_id=consumer.id, consumer_no=consumer.consumer_no)
    say(turn, "kyc.ask_account")
    return State.KYC_BANK_ACCOUNT


async def on_account(turn: Turn, text: str) -> State:
    try:
        account_no = normalise_bank_account(text)
    except InvalidIdentifier:
        return await retry(turn, "kyc.invalid_account", state=State.KYC_BANK_ACCOUNT)
    vault = kyc_of(turn).vault
    turn.data.update(account=vault.encrypt(account_no),
                     account_hash=vault.lookup_hash(BANK_ACCOUNT, account_no))
    say(turn, "kyc.ask_account_again")
    return State.KYC_BANK_ACCOUNT_AGAIN


async def on_account_again(turn: Turn, text: str) -> State:
    try:
        again = normalise_bank_account(text)
    except InvalidIdentifier:
        again = ""
    stored = str(turn.data.get("account_hash", ""))
    if not again or not kyc_of(turn).vault.same_value(BANK_ACCOUNT, again, stored):
        turn.data.pop("account", None)
        turn.data.pop("account_hash", None)
        return await retry(turn, "kyc.account_mismatch", state=State.KYC_BANK_ACCOUNT)
    turn.data.pop("tries", None)
    say(turn, "kyc.ask_ifsc")
    return State.KYC_BANK_IFSC


async def on_ifsc(turn: Turn, text: str) -> State:
    try:
        ifsc = normalise_ifsc(text)
    except InvalidIdentifier:
        return await retry(turn, "kyc.invalid_ifsc", state=State.KYC_BANK_IFSC)
    turn.data.pop("tries", None)
    turn.data["ifsc"] = ifsc
    return await send_bank_code(turn)


async def send_bank_code(turn: Turn) -> State:
    """Subsidy money goes to this account: the registered mobile's holder must agree."""
    consumer = await linked_or_told(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None or not consumer.mobile:
        return await show_menu(turn)
    reserved = await reserve(turn, "bank_account", consumer, consumer.mobile, "sms.bank_otp")
    if isinstance(reserved, Refused):
        return await tell_refused(turn, reserved, State.KYC_BANK_OTP)
    send_after_commit(turn, reserved, "kyc.bank_otp_sent")
    return State.KYC_BANK_OTP


async def complete_bank_account(turn: Turn, checked: Checked) -> State:
    kyc, challenge = kyc_of(turn), checked.challenge
    if challenge is None:  # only a verified code carries its challenge
        return not_verified(turn, Checked(ok=False))
    consumer = await linked_or_told(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None:
        return await show_menu(turn)
    if ("account" not in turn.data or challenge.target_mobile != consumer.mobile
            or not await kyc.otp.consume(turn.session, challenge, turn.now)):
        return not_verified(turn, Checked(ok=False))
    account_no, ifsc = kyc.vault.decrypt(str(turn.data["account"])), str(turn.data["ifsc"])
    account = await save_bank_account(turn.session, kyc.vault, consumer_id=consumer.id,
                                      chat_id=turn.chat.id, account_no=account_no, ifsc=ifsc,
                                      now=turn.now)
    await tell_bank_account_changed(turn.session, consumer, account, turn.language, turn.now)
    turn.data.clear()
    say(turn, "kyc.bank_saved", account=mask_tail(account_no), ifsc=ifsc,
        consumer_no=consumer.consumer_no)
    return await show_menu(turn)
