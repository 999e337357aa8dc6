"""KYC by OTP: consumer number → Samagra ID (checked) → consent → OTP to the registered
mobile → linked. This module routes every KYC state; a linked chat's changes (a new mobile,
a bank account) are in `bot.dialog.kyc_changes`, what the steps share in `kyc_codes`.

Rules kept throughout:

- the Samagra ID must be the account holder's (`discom.kyc.identity`): the imported one, or a
  registry member whose name matches the account's; the masked mobile is shown only after;
- an unknown consumer number and one without a registered mobile get the same answer;
- an OTP only ever goes to the mobile registered on the account (or, for a mobile change, to
  the new number being proved);
- codes are recorded in the turn's transaction and sent after its commit (`bot.dialog.kyc_codes`);
- a phone number shared through the channel (Telegram's "share my phone number") only
  pre-fills the new number, asking before a code is sent to it: it never stands in for a code;
- answers about codes never say which check failed (`discom.kyc.otp`);
- every KYC reply carries the warning that the discom never asks for an OTP on a call;
- the Samagra ID and the account number wait between steps encrypted (conversation data is
  stored in the database), and are shown only masked (XXXX and the last four).
"""

from __future__ import annotations

from bot.dialog.dues import within_lookup_quota
from bot.dialog.kyc_changes import (
    complete_bank_account,
    complete_mobile_change,
    lost_old_mobile,
    old_mobile_proved,
    on_account,
    on_account_again,
    on_ifsc,
    on_new_mobile,
    send_bank_code,
    send_mobile_codes,
    start_bank_account,
    start_mobile_change,
)
from bot.dialog.kyc_codes import (
    OTP_STATES,
    kyc_of,
    not_verified,
    reserve,
    retry,
    say,
    send_after_commit,
    tell_refused,
    typed_code,
)
from bot.dialog.menu import show_menu
from bot.dialog.messages import Button
from bot.dialog.store import linked_consumer_nos
from bot.dialog.text import mentions
from bot.dialog.turn import State, Turn
from bot.locales import keywords
from discom.accounts import find_consumer
from discom.identifiers import (
    InvalidIdentifier,
    mask_mobile,
    mask_tail,
    normalise_consumer_no,
    normalise_mobile,
    normalise_samagra_id,
)
from discom.kyc.identity import Verdict, ask_for_review, check_samagra
from discom.kyc.otp import Checked, Refused, looks_like_code
from discom.kyc.records import Consent, record_kyc
from discom.kyc.samagra import RegistryUnavailable
from discom.lookups import allow_lookup
from discom.models import Consumer

CONSENT_KEY = "kyc.consent"
# Bump whenever the meaning of the consent text changes (the text shown is recorded too).
CONSENT_VERSION = "2026-11-1"
MAX_ACCOUNT_BUTTONS = 5

STATES = frozenset({
    State.KYC_CONSUMER_NO, State.KYC_SAMAGRA, State.KYC_CONSENT, State.KYC_OTP,
    State.KYC_NEW_MOBILE, State.KYC_CONFIRM_MOBILE, State.KYC_MOBILE_OTP,
    State.KYC_BANK_ACCOUNT, State.KYC_BANK_ACCOUNT_AGAIN, State.KYC_BANK_IFSC,
    State.KYC_OLD_MOBILE_OTP, State.KYC_BANK_OTP,
})


# --- entry ------------------------------------------------------------------------------------

async def start(turn: Turn, argument: str = "") -> State:
    """/kyc or the menu: a chat already linked may also update its accounts' details."""
    turn.data.clear()
    if argument:
        return await on_consumer_no(turn, argument)
    linked = await linked_consumer_nos(turn.session, turn.chat.id)
    if not linked:
        return _ask_consumer_no(turn)
    rows = [(Button("kyc:new", turn.t("kyc.button_new")),)]
    for no in linked[:MAX_ACCOUNT_BUTTONS]:
        rows.append((Button(f"kyc:mobile:{no}", turn.t("kyc.button_mobile_for", consumer_no=no)),
                     Button(f"kyc:bank:{no}", turn.t("kyc.button_bank_for", consumer_no=no))))
    say(turn, "kyc.choose", buttons=tuple(rows))
    return State.IDLE


def _ask_consumer_no(turn: Turn) -> State:
    turn.data.clear()
    say(turn, "kyc.ask_consumer_no")
    return State.KYC_CONSUMER_NO


async def on_text(turn: Turn, text: str) -> State:
    """Typed text in a KYC state."""
    handler = {
        State.KYC_CONSUMER_NO: on_consumer_no,
        State.KYC_SAMAGRA: on_samagra,
        State.KYC_CONSENT: on_consent_text,
        State.KYC_OTP: on_code,
        State.KYC_MOBILE_OTP: on_code,
        State.KYC_OLD_MOBILE_OTP: on_code,
        State.KYC_BANK_OTP: on_code,
        State.KYC_NEW_MOBILE: on_new_mobile,
        State.KYC_CONFIRM_MOBILE: on_new_mobile,
        State.KYC_BANK_ACCOUNT: on_account,
        State.KYC_BANK_ACCOUNT_AGAIN: on_account_again,
        State.KYC_BANK_IFSC: on_ifsc,
    }[turn.state]
    return await handler(turn, text)


async def on_button(turn: Turn, button: str) -> State:
    """`kyc:*` buttons. Those that belong to one step do nothing useful outside it."""
    _, _, rest = button.partition(":")
    action, _, consumer_no = rest.partition(":")
    if action == "new":
        return _ask_consumer_no(turn)
    if action == "mobile" and consumer_no:
        return await start_mobile_change(turn, consumer_no)
    if action == "bank" and consumer_no:
        return await start_bank_account(turn, consumer_no)
    if action == "lost" and consumer_no:
        return await lost_old_mobile(turn, consumer_no)
    if action == "done":
        turn.data.clear()
        return await show_menu(turn)
    if action == "agree" and turn.state == State.KYC_CONSENT:
        return await _send_kyc_code(turn)
    if action == "decline" and turn.state == State.KYC_CONSENT:
        turn.data.clear()
        say(turn, "kyc.declined")
        return await show_menu(turn)
    if action == "resend" and turn.state in OTP_STATES:
        return await resend(turn)
    if action == "send_code" and turn.state == State.KYC_CONFIRM_MOBILE:
        return await send_mobile_codes(turn, str(turn.data.get("offered_mobile", "")))
    say(turn, "kyc.step_over")
    return await show_menu(turn)


async def on_contact(turn: Turn, phone: str) -> State:
    """A phone number shared through the channel. It pre-fills a new mobile number (after
    asking); it is never a way past a code."""
    if turn.state in (State.KYC_NEW_MOBILE, State.KYC_CONFIRM_MOBILE):
        try:
            mobile = normalise_mobile(phone)
        except InvalidIdentifier:
            return await retry(turn, "kyc.invalid_mobile")
        turn.data["offered_mobile"] = mobile
        say(turn, "kyc.confirm_contact", mobile=mask_mobile(mobile), buttons=(
            (Button("kyc:send_code", turn.t("kyc.button_send_code")),),
            (Button("kyc:done", turn.t("kyc.button_done")),)))
        return State.KYC_CONFIRM_MOBILE
    if turn.state in OTP_STATES:
        pending = await kyc_of(turn).otp.pending_mobile(
            turn.session, purpose=OTP_STATES[turn.state], chat_id=turn.chat.id)
        say(turn, "kyc.contact_not_code", mobile=mask_mobile(pending or ""))
        return turn.state
    say(turn, "kyc.contact_not_needed")
    return turn.state


# --- KYC --------------------------------------------------------------------------------------

async def on_consumer_no(turn: Turn, text: str) -> State:
    try:
        consumer_no = normalise_consumer_no(text)
    except InvalidIdentifier:
        return await retry(turn, "dues.invalid_consumer_no", state=State.KYC_CONSUMER_NO)
    if not within_lookup_quota(turn):
        turn.data.clear()
        say(turn, "dues.too_many_lookups")
        return await show_menu(turn)
    consumer = await find_consumer(turn.session, consumer_no)
    if consumer is None or consumer.mobile is None:
        # One answer for both: KYC must not tell who has a registered mobile.
        return await retry(turn, "kyc.cannot_start", state=State.KYC_CONSUMER_NO,
                            consumer_no=consumer_no)
    if not await allow_lookup(turn.session, consumer_id=consumer.id, chat_id=turn.chat.id,
                              now=turn.now, limits=turn.deps.lookup_limits):
        turn.data.clear()
        say(turn, "dues.too_many_lookups")
        return await show_menu(turn)
    turn.data.clear()
    turn.data.update(consumer_id=consumer.id, consumer_no=consumer_no)
    say(turn, "kyc.ask_samagra")
    return State.KYC_SAMAGRA


async def on_samagra(turn: Turn, text: str) -> State:
    try:
        kind, samagra_id = normalise_samagra_id(text)
    except InvalidIdentifier:
        return await retry(turn, "kyc.invalid_samagra", state=State.KYC_SAMAGRA)
    kyc = kyc_of(turn)
    consumer = await turn.session.get(Consumer, int(turn.data["consumer_id"]))
    assert consumer is not None
    try:
        check = await check_samagra(turn.session, kyc.registry, kyc.vault, consumer, kind,
                                    samagra_id, asked=turn.kyc_registry_answer)
    except RegistryUnavailable:
        say(turn, "kyc.samagra_later")
        return State.KYC_SAMAGRA
    if check.verdict == Verdict.NOT_FOUND:
        return await retry(turn, "kyc.samagra_not_found", state=State.KYC_SAMAGRA)
    if check.verdict == Verdict.REVIEW:
        await ask_for_review(turn.session, kyc.vault, kind="name_near", consumer_id=consumer.id,
                             chat_id=turn.chat.id, now=turn.now, samagra_kind=kind,
                             samagra_id=samagra_id, registry_name=check.registry_name)
        turn.data.clear()
        say(turn, "kyc.samagra_review")
        return await show_menu(turn)
    if check.verdict == Verdict.MISMATCH:
        turn.data.clear()
        say(turn, "kyc.samagra_mismatch")
        return await show_menu(turn)
    turn.data.pop("tries", None)
    turn.data.update(samagra=kyc.vault.encrypt(samagra_id), samagra_kind=kind)
    return _ask_consent(turn)


def _ask_consent(turn: Turn) -> State:
    text = turn.t(CONSENT_KEY, version=CONSENT_VERSION)
    # Recorded with the KYC exactly as shown, in the language shown.
    turn.data["consent"] = {"language": turn.language, "text": text}
    say(turn, CONSENT_KEY, version=CONSENT_VERSION, buttons=(
        (Button("kyc:agree", turn.t("kyc.agree")),),
        (Button("kyc:decline", turn.t("kyc.decline")),)))
    return State.KYC_CONSENT


async def on_consent_text(turn: Turn, text: str) -> State:
    if mentions(text, keywords("intent.agree")):
        return await _send_kyc_code(turn)
    return _ask_consent(turn)


async def _send_kyc_code(turn: Turn) -> State:
    consumer = await turn.session.get(Consumer, int(turn.data["consumer_id"]))
    if consumer is None or consumer.mobile is None:  # changed since the number was typed
        say(turn, "kyc.no_mobile", consumer_no=turn.data.get("consumer_no", ""))
        turn.data.clear()
        return await show_menu(turn)
    reserved = await reserve(turn, "kyc", consumer, consumer.mobile, "sms.kyc_otp")
    if isinstance(reserved, Refused):
        return await tell_refused(turn, reserved, State.KYC_OTP)
    send_after_commit(turn, reserved, "kyc.otp_sent")
    return State.KYC_OTP


async def resend(turn: Turn) -> State:
    if turn.state in (State.KYC_MOBILE_OTP, State.KYC_OLD_MOBILE_OTP):
        return await send_mobile_codes(turn, str(turn.data.get("new_mobile", "")),
                                        only=OTP_STATES[turn.state])
    if turn.state == State.KYC_BANK_OTP:
        return await send_bank_code(turn)
    return await _send_kyc_code(turn)


async def on_code(turn: Turn, text: str) -> State:
    """A typed OTP (or a request for a new one)."""
    if mentions(text, keywords("intent.resend")):
        return await resend(turn)
    code = typed_code(text)
    if not looks_like_code(code):
        say(turn, "kyc.otp_format")
        return turn.state
    purpose = OTP_STATES[turn.state]
    checked = await kyc_of(turn).otp.match(turn.session, purpose=purpose, chat_id=turn.chat.id,
                                         code=code, now=turn.now, asked=turn.kyc_code_answer)
    if not checked.ok or checked.challenge is None or (
            checked.challenge.consumer_id != turn.data.get("consumer_id")):
        return not_verified(turn, checked)
    if purpose == "kyc":
        return await _complete_kyc(turn, checked)
    if purpose == "mobile_old":
        return await old_mobile_proved(turn, checked)
    if purpose == "bank_account":
        return await complete_bank_account(turn, checked)
    return await complete_mobile_change(turn, checked)


async def _complete_kyc(turn: Turn, checked: Checked) -> State:
    kyc, challenge = kyc_of(turn), checked.challenge
    assert challenge is not None
    if "samagra" not in turn.data or not await kyc.otp.consume(turn.session, challenge,
                                                               turn.now):
        return not_verified(turn, Checked(ok=False))
    samagra_id = kyc.vault.decrypt(str(turn.data["samagra"]))
    shown = turn.data.get("consent") or {}
    consent = Consent(CONSENT_KEY, CONSENT_VERSION, str(shown.get("language", turn.language)),
                      str(shown.get("text", turn.t(CONSENT_KEY, version=CONSENT_VERSION))))
    await record_kyc(turn.session, kyc.vault, challenge=challenge,
                     samagra_kind=str(turn.data["samagra_kind"]), samagra_id=samagra_id,
                     channel=turn.chat.channel, consent=consent, now=turn.now)
    consumer_no = str(turn.data["consumer_no"])
    turn.data.clear()
    say(turn, "kyc.done", consumer_no=consumer_no, samagra=mask_tail(samagra_id),
        mobile=mask_mobile(challenge.target_mobile))
    turn.say("kyc.next", buttons=(
        (Button(f"kyc:mobile:{consumer_no}", turn.t("kyc.button_mobile")),),
        (Button(f"kyc:bank:{consumer_no}", turn.t("kyc.button_bank")),),
        (Button("kyc:done", turn.t("kyc.button_done")),)))
    return State.IDLE
