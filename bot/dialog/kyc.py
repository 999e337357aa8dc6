"""KYC by OTP: consumer number → Samagra ID (checked) → consent → OTP to the registered
mobile → linked.

Then, optionally: a new mobile (an OTP to the *old* registered number and one to the new
number, both typed; a consumer who lost the old number asks for a staff review instead) and a
bank account (typed twice, IFSC checked, an OTP to the registered mobile, stored encrypted;
the registered mobile is told by SMS through the outbox).

Rules kept throughout:

- the Samagra ID must be the account holder's (`discom.kyc.identity`): the imported one, or a
  registry member whose name matches the account's; the masked mobile is shown only after;
- an unknown consumer number and one without a registered mobile get the same answer;
- an OTP only ever goes to the mobile registered on the account (or, for a mobile change, to
  the new number being proved);
- codes are recorded in the turn's transaction and sent after its commit (`_send_code`);
- a phone number shared through the channel (Telegram's "share my phone number") only
  pre-fills the new number, asking before a code is sent to it: it never stands in for a code;
- answers about codes never say which check failed (`discom.kyc.otp`);
- every KYC reply carries the warning that the discom never asks for an OTP on a call;
- the Samagra ID and the account number wait between steps encrypted (conversation data is
  stored in the database), and are shown only masked (XXXX and the last four).
"""

from __future__ import annotations

from datetime import timedelta

from bot.dialog.menu import show_menu
from bot.dialog.messages import Button, Reply
from bot.dialog.store import linked_consumer_nos
from bot.dialog.text import mentions
from bot.dialog.turn import State, Turn
from bot.locales import keywords
from discom.accounts import find_consumer
from discom.db import Database
from discom.identifiers import (
    InvalidIdentifier,
    mask_mobile,
    mask_tail,
    normalise_bank_account,
    normalise_consumer_no,
    normalise_ifsc,
    normalise_mobile,
    normalise_samagra_id,
)
from discom.kyc import KycServices
from discom.kyc.identity import Verdict, ask_for_review, check_samagra
from discom.kyc.notices import tell_bank_account_changed
from discom.kyc.otp import Checked, Issued, NotSent, Refused, Reserved, looks_like_code
from discom.kyc.records import (
    BANK_ACCOUNT,
    Consent,
    change_mobile,
    linked_consumer,
    record_kyc,
    save_bank_account,
)
from discom.kyc.samagra import RegistryUnavailable
from discom.lookups import allow_lookup
from discom.models import Consumer, OtpChallenge

CONSENT_KEY = "kyc.consent"
# Bump whenever the meaning of the consent text changes (the text shown is recorded too).
CONSENT_VERSION = "2026-11-1"
MAX_TRIES = 3
MAX_ACCOUNT_BUTTONS = 5

STATES = frozenset({
    State.KYC_CONSUMER_NO, State.KYC_SAMAGRA, State.KYC_CONSENT, State.KYC_OTP,
    State.KYC_NEW_MOBILE, State.KYC_CONFIRM_MOBILE, State.KYC_MOBILE_OTP,
    State.KYC_BANK_ACCOUNT, State.KYC_BANK_ACCOUNT_AGAIN, State.KYC_BANK_IFSC,
    State.KYC_OLD_MOBILE_OTP, State.KYC_BANK_OTP,
})
OTP_STATES = {State.KYC_OTP: "kyc", State.KYC_MOBILE_OTP: "mobile_change",
              State.KYC_OLD_MOBILE_OTP: "mobile_old", State.KYC_BANK_OTP: "bank_account"}


def _kyc(turn: Turn) -> KycServices:
    assert turn.kyc is not None, "KYC states are reached only when KYC is wired"
    return turn.kyc


def say(turn: Turn, key: str, *, buttons: tuple[tuple[Button, ...], ...] = (),
        ask_contact: bool = False, **values: object) -> None:
    """A KYC reply: the message, then the never-share-your-OTP warning."""
    text = f"{turn.t(key, **values)}\n\n{turn.t('kyc.warning')}"
    turn.send(Reply(text, buttons=buttons, ask_contact=ask_contact))


def _minutes(turn: Turn) -> int:
    return int(_kyc(turn).otp.policy.lifetime.total_seconds() // 60)


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
        return await _send_mobile_codes(turn, str(turn.data.get("offered_mobile", "")))
    say(turn, "kyc.step_over")
    return await show_menu(turn)


async def on_contact(turn: Turn, phone: str) -> State:
    """A phone number shared through the channel. It pre-fills a new mobile number (after
    asking); it is never a way past a code."""
    if turn.state in (State.KYC_NEW_MOBILE, State.KYC_CONFIRM_MOBILE):
        try:
            mobile = normalise_mobile(phone)
        except InvalidIdentifier:
            return await _retry(turn, "kyc.invalid_mobile")
        turn.data["offered_mobile"] = mobile
        say(turn, "kyc.confirm_contact", mobile=mask_mobile(mobile), buttons=(
            (Button("kyc:send_code", turn.t("kyc.button_send_code")),),
            (Button("kyc:done", turn.t("kyc.button_done")),)))
        return State.KYC_CONFIRM_MOBILE
    if turn.state in OTP_STATES:
        pending = await _kyc(turn).otp.pending_mobile(
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
        return await _retry(turn, "dues.invalid_consumer_no", state=State.KYC_CONSUMER_NO)
    if not _within_lookup_quota(turn):
        turn.data.clear()
        say(turn, "dues.too_many_lookups")
        return await show_menu(turn)
    consumer = await find_consumer(turn.session, consumer_no)
    if consumer is None or consumer.mobile is None:
        # One answer for both: KYC must not tell who has a registered mobile.
        return await _retry(turn, "kyc.cannot_start", state=State.KYC_CONSUMER_NO,
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
        return await _retry(turn, "kyc.invalid_samagra", state=State.KYC_SAMAGRA)
    kyc = _kyc(turn)
    consumer = await turn.session.get(Consumer, int(turn.data["consumer_id"]))
    assert consumer is not None
    try:
        check = await check_samagra(turn.session, kyc.registry, kyc.vault, consumer, kind,
                                    samagra_id)
    except RegistryUnavailable:
        say(turn, "kyc.samagra_later")
        return State.KYC_SAMAGRA
    if check.verdict == Verdict.NOT_FOUND:
        return await _retry(turn, "kyc.samagra_not_found", state=State.KYC_SAMAGRA)
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
    reserved = await _reserve(turn, "kyc", consumer, consumer.mobile, "sms.kyc_otp")
    if isinstance(reserved, Refused):
        return await _refused(turn, reserved, State.KYC_OTP)
    _send_after_commit(turn, reserved, "kyc.otp_sent")
    return State.KYC_OTP


def _resend_buttons(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return ((Button("kyc:resend", turn.t("kyc.resend")),),
            (Button("kyc:done", turn.t("kyc.button_done")),))


async def _reserve(turn: Turn, purpose: str, consumer: Consumer, mobile: str, sms_key: str
                   ) -> Reserved | Refused:
    """Record a code for `mobile` in this turn's transaction (sent after the commit)."""
    consumer_no, minutes = consumer.consumer_no, _minutes(turn)
    return await _kyc(turn).otp.reserve(
        turn.session, purpose=purpose, consumer_id=consumer.id, chat_id=turn.chat.id,
        mobile=mobile, now=turn.now, language=turn.language,
        text=lambda code: turn.t(sms_key, code=code, consumer_no=consumer_no, minutes=minutes))


def _send_after_commit(turn: Turn, reserved: Reserved, sent_key: str | None, **values: object
                       ) -> None:
    """Send the code once the turn is committed, then say what became of it (`sent_key`:
    the "sent" answer; None: only failures are told)."""
    kyc, mobile, minutes = _kyc(turn), reserved.mobile, _minutes(turn)

    async def deliver(db: Database) -> None:
        issued = await kyc.otp.deliver(db, reserved)
        _tell_delivery(turn, issued, mobile, sent_key, minutes, **values)

    turn.kyc_after_commit.append(deliver)


def _tell_delivery(turn: Turn, issued: Issued | NotSent, mobile: str, sent_key: str | None,
                   minutes: int, **values: object) -> None:
    if isinstance(issued, Issued):
        if issued.sandbox_text is not None and turn.chat.channel == "console":
            turn.say("kyc.otp_sandbox", mobile=mask_mobile(mobile), text=issued.sandbox_text)
        if sent_key is not None:
            say(turn, sent_key, mobile=mask_mobile(mobile), minutes=minutes,
                buttons=_resend_buttons(turn), **values)
    elif issued.permanent:
        say(turn, "kyc.otp_not_sent_permanent", mobile=mask_mobile(mobile))
    else:
        say(turn, "kyc.otp_not_sent", buttons=_resend_buttons(turn))


async def _refused(turn: Turn, refused: Refused, waiting: State) -> State:
    """Tell the consumer why no code went."""
    if refused.wait_seconds is not None:
        # This chat's own code for this account went out a moment ago (and may still work).
        say(turn, "kyc.otp_wait" if refused.code_pending else "kyc.otp_wait_new",
            seconds=refused.wait_seconds, buttons=_resend_buttons(turn))
        return waiting
    say(turn, "kyc.otp_limit")
    if turn.state == waiting:  # an earlier code of this chat may still be typed
        return waiting
    turn.data.clear()
    return await show_menu(turn)


async def resend(turn: Turn) -> State:
    if turn.state in (State.KYC_MOBILE_OTP, State.KYC_OLD_MOBILE_OTP):
        return await _send_mobile_codes(turn, str(turn.data.get("new_mobile", "")),
                                        only=OTP_STATES[turn.state])
    if turn.state == State.KYC_BANK_OTP:
        return await _send_bank_code(turn)
    return await _send_kyc_code(turn)


async def on_code(turn: Turn, text: str) -> State:
    """A typed OTP (or a request for a new one)."""
    if mentions(text, keywords("intent.resend")):
        return await resend(turn)
    code = text.replace(" ", "").replace("-", "")
    if not looks_like_code(code):
        say(turn, "kyc.otp_format")
        return turn.state
    purpose = OTP_STATES[turn.state]
    checked = await _kyc(turn).otp.match(turn.session, purpose=purpose, chat_id=turn.chat.id,
                                         code=code, now=turn.now)
    if not checked.ok or checked.challenge is None or (
            checked.challenge.consumer_id != turn.data.get("consumer_id")):
        return _not_verified(turn, checked)
    if purpose == "kyc":
        return await _complete_kyc(turn, checked)
    if purpose == "mobile_old":
        return await _old_mobile_proved(turn, checked)
    if purpose == "bank_account":
        return await _complete_bank_account(turn, checked)
    return await _complete_mobile_change(turn, checked)


def _not_verified(turn: Turn, checked: Checked) -> State:
    if checked.unavailable:
        say(turn, "kyc.otp_check_later")
        return turn.state
    buttons = ((Button("kyc:resend", turn.t("kyc.resend")),),
               (Button("kyc:done", turn.t("kyc.button_done")),))
    say(turn, "kyc.otp_locked" if checked.locked_now else "kyc.otp_invalid", buttons=buttons)
    return turn.state


async def _complete_kyc(turn: Turn, checked: Checked) -> State:
    kyc, challenge = _kyc(turn), checked.challenge
    assert challenge is not None
    if "samagra" not in turn.data or not await kyc.otp.consume(turn.session, challenge,
                                                               turn.now):
        return _not_verified(turn, Checked(ok=False))
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


# --- a new mobile -----------------------------------------------------------------------------

async def _linked(turn: Turn, consumer_no: str) -> Consumer | None:
    consumer = await linked_consumer(turn.session, turn.chat.id, consumer_no)
    if consumer is None:
        turn.data.clear()
        say(turn, "kyc.not_linked", consumer_no=consumer_no)
    return consumer


async def start_mobile_change(turn: Turn, consumer_no: str) -> State:
    consumer = await _linked(turn, consumer_no)
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
        return await _retry(turn, "kyc.invalid_mobile", state=State.KYC_NEW_MOBILE)
    return await _send_mobile_codes(turn, mobile)


async def _send_mobile_codes(turn: Turn, mobile: str, *, only: str | None = None) -> State:
    """A code to the old registered number (its holder must agree) and one to the new number
    (it must be theirs); `only` re-sends one of them."""
    consumer = await _linked(turn, str(turn.data.get("consumer_no", "")))
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
        outcome = await _reserve(turn, purpose, consumer, target, sms_key)
        if isinstance(outcome, Refused):
            await _withdraw(turn, reserved)
            return await _refused(turn, outcome, waiting)
        reserved.append(outcome)
    for one in reserved:
        _send_after_commit(turn, one, None)
    if only is None or only == OTP_STATES[waiting]:
        say(turn, "kyc.mobile_otps_sent" if only is None else "kyc.mobile_otp_resent",
            old=mask_mobile(consumer.mobile), mobile=mask_mobile(mobile),
            minutes=_minutes(turn), consumer_no=consumer.consumer_no,
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


async def _old_mobile_proved(turn: Turn, checked: Checked) -> State:
    """The old number's holder typed their code: now the new number's code."""
    challenge = checked.challenge
    assert challenge is not None
    if not await _kyc(turn).otp.consume(turn.session, challenge, turn.now):
        return _not_verified(turn, Checked(ok=False))
    turn.data["old_proved"] = challenge.id
    say(turn, "kyc.old_mobile_proved", mobile=mask_mobile(str(turn.data.get("new_mobile", ""))))
    return State.KYC_MOBILE_OTP


async def _complete_mobile_change(turn: Turn, checked: Checked) -> State:
    """The new number is proved too (the old one was, in the step before)."""
    kyc, challenge = _kyc(turn), checked.challenge
    assert challenge is not None
    consumer = await _linked(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None:
        return await show_menu(turn)
    old_proof = turn.data.get("old_proved")
    old_challenge = (await turn.session.get(OtpChallenge, int(old_proof))
                     if old_proof else None)
    if (old_challenge is None or old_challenge.status != "verified"
            or old_challenge.consumer_id != consumer.id
            or old_challenge.target_mobile != consumer.mobile):
        return _not_verified(turn, Checked(ok=False))
    if not await kyc.otp.consume(turn.session, challenge, turn.now):
        return _not_verified(turn, Checked(ok=False))
    old, new = consumer.mobile, challenge.target_mobile
    await change_mobile(turn.session, challenge=challenge, old_notified=True, now=turn.now)
    turn.data.clear()
    say(turn, "kyc.mobile_changed", consumer_no=consumer.consumer_no,
        mobile=mask_mobile(new), old=mask_mobile(old or ""))
    return await show_menu(turn)


async def lost_old_mobile(turn: Turn, consumer_no: str) -> State:
    """No access to the old number: staff decide (the change is never made from here)."""
    consumer = await _linked(turn, consumer_no)
    if consumer is None:
        return await show_menu(turn)
    await ask_for_review(turn.session, _kyc(turn).vault, kind="lost_mobile",
                         consumer_id=consumer.id, chat_id=turn.chat.id, now=turn.now)
    turn.data.clear()
    say(turn, "kyc.lost_mobile_review", consumer_no=consumer.consumer_no)
    return await show_menu(turn)


# --- a bank account ---------------------------------------------------------------------------

async def start_bank_account(turn: Turn, consumer_no: str) -> State:
    consumer = await _linked(turn, consumer_no)
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
        return await _retry(turn, "kyc.invalid_account", state=State.KYC_BANK_ACCOUNT)
    vault = _kyc(turn).vault
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
    if not again or not _kyc(turn).vault.same_value(BANK_ACCOUNT, again, stored):
        turn.data.pop("account", None)
        turn.data.pop("account_hash", None)
        return await _retry(turn, "kyc.account_mismatch", state=State.KYC_BANK_ACCOUNT)
    turn.data.pop("tries", None)
    say(turn, "kyc.ask_ifsc")
    return State.KYC_BANK_IFSC


async def on_ifsc(turn: Turn, text: str) -> State:
    try:
        ifsc = normalise_ifsc(text)
    except InvalidIdentifier:
        return await _retry(turn, "kyc.invalid_ifsc", state=State.KYC_BANK_IFSC)
    turn.data.pop("tries", None)
    turn.data["ifsc"] = ifsc
    return await _send_bank_code(turn)


async def _send_bank_code(turn: Turn) -> State:
    """Subsidy money goes to this account: the registered mobile's holder must agree."""
    consumer = await _linked(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None or not consumer.mobile:
        return await show_menu(turn)
    reserved = await _reserve(turn, "bank_account", consumer, consumer.mobile, "sms.bank_otp")
    if isinstance(reserved, Refused):
        return await _refused(turn, reserved, State.KYC_BANK_OTP)
    _send_after_commit(turn, reserved, "kyc.bank_otp_sent")
    return State.KYC_BANK_OTP


async def _complete_bank_account(turn: Turn, checked: Checked) -> State:
    kyc, challenge = _kyc(turn), checked.challenge
    assert challenge is not None
    consumer = await _linked(turn, str(turn.data.get("consumer_no", "")))
    if consumer is None:
        return await show_menu(turn)
    if ("account" not in turn.data or challenge.target_mobile != consumer.mobile
            or not await kyc.otp.consume(turn.session, challenge, turn.now)):
        return _not_verified(turn, Checked(ok=False))
    account_no, ifsc = kyc.vault.decrypt(str(turn.data["account"])), str(turn.data["ifsc"])
    account = await save_bank_account(turn.session, kyc.vault, consumer_id=consumer.id,
                                      chat_id=turn.chat.id, account_no=account_no, ifsc=ifsc,
                                      now=turn.now)
    await tell_bank_account_changed(turn.session, consumer, account, turn.language, turn.now)
    turn.data.clear()
    say(turn, "kyc.bank_saved", account=mask_tail(account_no), ifsc=ifsc,
        consumer_no=consumer.consumer_no)
    return await show_menu(turn)


# --- helpers ----------------------------------------------------------------------------------

async def _retry(turn: Turn, key: str, *, state: State | None = None, **values: object
                 ) -> State:
    """Explain what was wrong and ask again; the third failure in a step goes to the menu."""
    tries = int(turn.data.get("tries", 0)) + 1
    say(turn, key, **values)
    if tries >= MAX_TRIES:
        turn.data.clear()
        turn.say("kyc.giving_up")
        return await show_menu(turn)
    turn.data["tries"] = tries
    return state or turn.state


def _within_lookup_quota(turn: Turn) -> bool:
    """Consumer numbers typed for KYC count in the same hourly quota as dues lookups, so
    neither can be used to walk the discom's consumer list."""
    hour_ago = (turn.now - timedelta(hours=1)).timestamp()
    recent = [t for t in turn.memory.get("lookups", []) if t > hour_ago]
    if len(recent) >= turn.deps.lookup_limits.per_chat:
        return False
    turn.memory["lookups"] = [*recent, turn.now.timestamp()]
    return True
