"""Pay: the itemised total and a payment link for exactly that amount (with a QR code)."""

from __future__ import annotations

from bot.dialog.messages import Reply
from bot.dialog.turn import Turn
from discom.accounts import Account
from discom.models import Consumer
from discom.money import format_inr
from discom.notify.audience import is_holder_chat
from discom.payments.gateway import MIN_LINK_AMOUNT
from discom.payments.links import link_for_total


async def offer_payment(turn: Turn, account: Account, itemised: str) -> None:
    """Say what is owed and give a link; a gateway failure asks them to try again shortly."""
    deps = turn.deps
    if account.dues.is_clear:
        turn.say("pay.nothing_due", consumer_no=account.consumer_no)
        return
    if not deps.can_pay:
        turn.say("error.not_available")
        return
    if account.dues.total < MIN_LINK_AMOUNT:  # Razorpay would refuse it every time
        turn.say_text("\n".join([itemised, turn.t(
            "pay.too_small", amount=format_inr(account.dues.total, turn.language))]))
        return
    consumer = await turn.session.get(Consumer, account.consumer_id)
    assert consumer is not None and deps.gateway is not None and deps.link_settings is not None
    try:
        holder = await is_holder_chat(turn.session, turn.chat.id, consumer.id)
        link = await link_for_total(turn.session, deps.gateway, deps.link_settings, consumer,
                                    account.dues.total, turn.chat.id, turn.now,
                                    for_holder=holder)
    except deps.gateway_errors:
        turn.say("pay.try_later")
        return
    text = "\n".join([
        itemised,
        turn.t("pay.link_intro", amount=format_inr(account.dues.total, turn.language)),
        turn.t("pay.link_line", link=link.short_url),
        turn.t("pay.after"),
    ])
    image = deps.qr_png(link.short_url) if deps.qr_png else None
    turn.send(Reply(text, link=link.short_url, image_png=image))
