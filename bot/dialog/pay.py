"""Pay: the itemised total and a payment link for exactly that amount (with a QR code).

A new link is made in two steps (discom/payments/link_requests.py): the request is claimed
in the turn's transaction, and Razorpay is called after the commit (`Turn.later`), so a slow
gateway holds no lock and no database connection.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.dialog.deps import DialogDeps
from bot.dialog.messages import Reply
from bot.dialog.turn import AfterCommit, Turn
from bot.locales import translate
from discom.accounts import Account
from discom.clock import utcnow
from discom.db import Database
from discom.models import Consumer, PaymentLink
from discom.money import format_inr
from discom.notify.audience import is_holder_chat
from discom.payments.gateway import MIN_LINK_AMOUNT
from discom.payments.link_requests import LinkClaim, make_link, request_link


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
    assert consumer is not None and deps.link_settings is not None
    found = await request_link(
        turn.session, consumer, account.dues.total, turn.chat.id, turn.now, deps.link_settings,
        for_holder=await is_holder_chat(turn.session, turn.chat.id, consumer.id))
    if isinstance(found, LinkClaim):
        turn.later(_link_maker(deps, found, itemised, turn.language))
    elif isinstance(found, PaymentLink):
        turn.send(link_reply(deps, itemised, found.amount_paise, found.short_url,
                             turn.language))
    else:  # the same chat's request for this account is with Razorpay right now
        turn.say("pay.link_on_its_way")


def _link_maker(deps: DialogDeps, claim: LinkClaim, itemised: str, language: str
                ) -> AfterCommit:
    """The Razorpay call and its reply, for after the turn's commit."""
    async def make(db: Database) -> Sequence[Reply]:
        assert deps.gateway is not None and deps.link_settings is not None
        try:
            link = await make_link(db, deps.gateway, deps.link_settings, claim, utcnow())
        except deps.gateway_errors:
            return [Reply(translate(language, "pay.try_later"))]
        return [link_reply(deps, itemised, link.amount_paise, link.short_url, language)]
    return make


def link_reply(deps: DialogDeps, itemised: str, amount_paise: int, url: str,
               language: str) -> Reply:
    text = "\n".join([
        itemised,
        translate(language, "pay.link_intro", amount=format_inr(amount_paise, language)),
        translate(language, "pay.link_line", link=url),
        translate(language, "pay.after"),
    ])
    image = deps.qr_png(url) if deps.qr_png else None
    return Reply(text, link=url, image_png=image)
