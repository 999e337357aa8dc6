"""What every KYC step shares: the reply with its warning, and a code's way out.

A code is recorded in the turn's transaction (`reserve`) and sent after its commit
(`send_after_commit`, run by the engine through `Turn.later`), so no transaction is
open while the provider answers; what became of it is told then (`tell_delivery`).
"""

from __future__ import annotations

from bot.dialog.menu import show_menu
from bot.dialog.messages import Button, Reply
from bot.dialog.turn import State, Turn
from discom.db import Database
from discom.identifiers import mask_mobile
from discom.kyc import KycServices
from discom.kyc.otp import Checked, Issued, NotSent, Refused, Reserved
from discom.kyc.records import linked_consumer
from discom.models import Consumer

MAX_TRIES = 3
OTP_STATES = {State.KYC_OTP: "kyc", State.KYC_MOBILE_OTP: "mobile_change",
              State.KYC_OLD_MOBILE_OTP: "mobile_old", State.KYC_BANK_OTP: "bank_account"}


def typed_code(text: str) -> str:
    """A typed OTP as checked: "123 456" and "123-456" are "123456"."""
    return text.replace(" ", "").replace("-", "")


def kyc_of(turn: Turn) -> KycServices:
    if turn.kyc is None:
        raise RuntimeError("KYC states are reached only when KYC is wired")
    return turn.kyc


def say(turn: Turn, key: str, *, buttons: tuple[tuple[Button, ...], ...] = (),
        ask_contact: bool = False, **values: object) -> None:
    """A KYC reply: the message, then the never-share-your-OTP warning."""
    text = f"{turn.t(key, **values)}\n\n{turn.t('kyc.warning')}"
    turn.send(Reply(text, buttons=buttons, ask_contact=ask_contact))


def minutes_of(turn: Turn) -> int:
    return int(kyc_of(turn).otp.policy.lifetime.total_seconds() // 60)


def resend_buttons(turn: Turn) -> tuple[tuple[Button, ...], ...]:
    return ((Button("kyc:resend", turn.t("kyc.resend")),),
            (Button("kyc:done", turn.t("kyc.button_done")),))


async def reserve(turn: Turn, purpose: str, consumer: Consumer, mobile: str, sms_key: str
                   ) -> Reserved | Refused:
    """Record a code for `mobile` in this turn's transaction (sent after the commit)."""
    consumer_no, minutes = consumer.consumer_no, minutes_of(turn)
    return await kyc_of(turn).otp.reserve(
        turn.session, purpose=purpose, consumer_id=consumer.id, chat_id=turn.chat.id,
        mobile=mobile, now=turn.now, language=turn.language,
        text=lambda code: turn.t(sms_key, code=code, consumer_no=consumer_no, minutes=minutes))


def send_after_commit(turn: Turn, reserved: Reserved, sent_key: str | None, **values: object
                       ) -> None:
    """Send the code once the turn is committed, then say what became of it (`sent_key`:
    the "sent" answer; None: only failures are told)."""
    kyc, mobile, minutes = kyc_of(turn), reserved.mobile, minutes_of(turn)

    async def deliver(db: Database) -> list[Reply]:
        issued = await kyc.otp.deliver(db, reserved)
        told_from = len(turn.replies)
        tell_delivery(turn, issued, mobile, sent_key, minutes, **values)
        told = turn.replies[told_from:]
        del turn.replies[told_from:]
        return told

    turn.later(deliver)


def tell_delivery(turn: Turn, issued: Issued | NotSent, mobile: str, sent_key: str | None,
                   minutes: int, **values: object) -> None:
    if isinstance(issued, Issued):
        if issued.sandbox_text is not None and turn.chat.channel == "console":
            turn.say("kyc.otp_sandbox", mobile=mask_mobile(mobile), text=issued.sandbox_text)
        if sent_key is not None:
            say(turn, sent_key, mobile=mask_mobile(mobile), minutes=minutes,
                buttons=resend_buttons(turn), **values)
    elif issued.permanent:
        say(turn, "kyc.otp_not_sent_permanent", mobile=mask_mobile(mobile))
    else:
        say(turn, "kyc.otp_not_sent", buttons=resend_buttons(turn))


async def tell_refused(turn: Turn, refused: Refused, waiting: State) -> State:
    """Tell the consumer why no code went."""
    if refused.wait_seconds is not None:
        # This chat's own code for this account went out a moment ago (and may still work).
        say(turn, "kyc.otp_wait" if refused.code_pending else "kyc.otp_wait_new",
            seconds=refused.wait_seconds, buttons=resend_buttons(turn))
        return waiting
    say(turn, "kyc.otp_limit")
    if turn.state == waiting:  # an earlier code of this chat may still be typed
        return waiting
    turn.data.clear()
    return await show_menu(turn)


def not_verified(turn: Turn, checked: Checked) -> State:
    if checked.unavailable:
        say(turn, "kyc.otp_check_later")
        return turn.state
    buttons = ((Button("kyc:resend", turn.t("kyc.resend")),),
               (Button("kyc:done", turn.t("kyc.button_done")),))
    say(turn, "kyc.otp_locked" if checked.locked_now else "kyc.otp_invalid", buttons=buttons)
    return turn.state


async def linked_or_told(turn: Turn, consumer_no: str) -> Consumer | None:
    consumer = await linked_consumer(turn.session, turn.chat.id, consumer_no)
    if consumer is None:
        turn.data.clear()
        say(turn, "kyc.not_linked", consumer_no=consumer_no)
    return consumer


async def retry(turn: Turn, key: str, *, state: State | None = None, **values: object
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
