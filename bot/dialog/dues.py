"""Check dues and supply status: find the account, then show what is owed and the supply.

Both tasks need a consumer account: the chat's linked one (after KYC) or a consumer number
typed in. A number typed in shows only amounts, dates and a masked name (ARCHITECTURE.md,
privacy by default), and a chat may look up only so many numbers an hour, so the bot cannot be
used to walk the discom's consumer list.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from bot.dialog.menu import show_menu
from bot.dialog.messages import Button
from bot.dialog.pay import offer_payment
from bot.dialog.recent import RecentNumber, is_recent, recent_numbers, remember
from bot.dialog.store import linked_consumer_nos
from bot.dialog.turn import State, Turn
from discom import timeline
from discom.accounts import Account, Supply, load_account
from discom.clock import show_date, show_datetime, show_time, today_ist
from discom.identifiers import InvalidIdentifier, mask_name, normalise_consumer_no
from discom.ledger import Dues
from discom.lookups import allow_lookup, chat_lookups_after
from discom.money import format_inr
from discom.notify.audience import events_paid_from, is_holder_chat

PURPOSES = ("dues", "pay", "status")
MAX_TRIES = 3
OTHER_NUMBER = "acct:other"


async def start_lookup(turn: Turn, purpose: str) -> State:
    """Begin 'check dues', 'pay' or 'supply status': the linked account, or a choice of the
    linked accounts and the numbers this chat looked up before, or ask for a number."""
    turn.data.clear()
    turn.data["purpose"] = purpose
    linked = await linked_consumer_nos(turn.session, turn.chat.id)
    recent = await recent_numbers(turn.session, turn.chat.id, turn.now, linked)
    if len(linked) == 1 and not recent:
        return await show_account(turn, linked[0])
    if linked or recent:
        return _offer_accounts(turn, linked, recent)
    turn.say("dues.ask_consumer_no")
    return State.AWAITING_CONSUMER_NO


async def on_consumer_no(turn: Turn, text: str) -> State:
    """Validate the typed consumer number and answer; three failures go back to the menu."""
    try:
        consumer_no = normalise_consumer_no(text)
    except InvalidIdentifier:
        return await _retry(turn, "dues.invalid_consumer_no")
    return await show_account(turn, consumer_no, typed=True)


async def on_account_choice(turn: Turn, button: str | None) -> State:
    """The chat picks a linked account, a number it looked up before, or another number."""
    if button == OTHER_NUMBER:
        turn.say("dues.ask_consumer_no")
        return State.AWAITING_CONSUMER_NO
    linked = await linked_consumer_nos(turn.session, turn.chat.id)
    consumer_no = (button or "").removeprefix("acct:")
    if consumer_no in linked:
        return await show_account(turn, consumer_no)
    if await is_recent(turn.session, turn.chat.id, consumer_no, turn.now):
        # Still a number typed in, only remembered: the same privacy and quota.
        return await show_account(turn, consumer_no, typed=True)
    # An old button of a number since forgotten, or one never offered to this chat.
    recent = await recent_numbers(turn.session, turn.chat.id, turn.now, linked)
    if linked or recent:
        return _offer_accounts(turn, linked, recent)
    turn.say("dues.ask_consumer_no")
    return State.AWAITING_CONSUMER_NO


def _offer_accounts(turn: Turn, linked: list[str], recent: list[RecentNumber]) -> State:
    """Linked accounts first, then recent lookups (masked names), then "another number"."""
    rows = [(Button(f"acct:{no}", no),) for no in linked]
    rows += [(Button(f"acct:{number.consumer_no}", turn.t(
        "account.recent", consumer_no=number.consumer_no, name=number.masked_name)),)
        for number in recent]
    if recent:
        rows.append((turn.button(OTHER_NUMBER, "account.other"),))
    turn.say("account.choose", buttons=tuple(rows))
    return State.CHOOSING_ACCOUNT


async def show_account(turn: Turn, consumer_no: str, *, typed: bool = False) -> State:
    if typed and not within_lookup_quota(turn):
        turn.say("dues.too_many_lookups")
        return await show_menu(turn)
    account = await load_account(turn.session, consumer_no)
    if account is None:
        return await _retry(turn, "dues.unknown_consumer_no", consumer_no=consumer_no)
    if typed and not await allow_lookup(turn.session, consumer_id=account.consumer_id,
                                        chat_id=turn.chat.id, now=turn.now,
                                        limits=turn.deps.lookup_limits):
        turn.say("dues.too_many_lookups")
        return await show_menu(turn)
    purpose = turn.data.get("purpose", "dues")
    turn.data.clear()
    if typed:
        await remember(turn.session, turn.chat.id, account.consumer_id, turn.now)
    values = _account_values(turn, account)
    if purpose == "pay":
        await offer_payment(turn, account, turn.t("dues.summary", **values))
    elif purpose == "status":
        turn.say("status.summary", **values)
        await _say_timeline(turn, account.consumer_id, typed)
    else:
        turn.say("dues.summary", **values)
    return await show_menu(turn)


async def _say_timeline(turn: Turn, consumer_id: int, typed: bool) -> None:
    """The account's recent events with times to the holder's chats; to a chat that paid
    through its own link, the events of its payments only; nothing to one that only typed
    the number (discom/notify/audience.py)."""
    only = None
    if typed and not await is_holder_chat(turn.session, turn.chat.id, consumer_id):
        only = events_paid_from(turn.chat.id, consumer_id)
    events = await timeline.recent(turn.session, consumer_id, only=only)
    if not events:
        return
    lines = [turn.t("status.timeline_title")] + [
        f"{show_time(event.at, turn.language)} {turn.t(f'status.event.{event.kind}')}"
        for event in events
    ]
    turn.say_text("\n".join(lines))


async def _retry(turn: Turn, key: str, **values: object) -> State:
    tries = int(turn.data.get("tries", 0)) + 1
    turn.say(key, **values)
    if tries >= MAX_TRIES:
        turn.data.clear()
        turn.say("dues.giving_up")
        return await show_menu(turn)
    turn.data["tries"] = tries
    return State.AWAITING_CONSUMER_NO


def within_lookup_quota(turn: Turn) -> bool:
    """Count a typed-in consumer number against the chat's hourly quota (kept in its memory);
    dues, status, pay and KYC share it, so none can be used to walk the consumer list."""
    stamps = chat_lookups_after(turn.memory.get("lookups", []), turn.now,
                                turn.deps.lookup_limits.per_chat)
    if stamps is None:
        return False
    turn.memory["lookups"] = stamps
    return True


def _account_values(turn: Turn, account: Account) -> dict[str, str]:
    dues, language = account.dues, turn.language
    lines = [_bill_line(turn, dues)]
    if dues.arrears:
        lines.append(turn.t("dues.line_arrears", amount=format_inr(dues.arrears, language)))
    if dues.charges:
        lines.append(turn.t("dues.line_charges", amount=format_inr(dues.charges, language)))
    if dues.advance:
        lines.append(turn.t("dues.line_advance", amount=format_inr(dues.advance, language)))
    if dues.is_clear:
        total = turn.t("dues.nothing_to_pay")
    else:
        total = turn.t("dues.line_total", amount=format_inr(dues.total, language))
        if dues.due_date:
            key = "dues.line_overdue" if dues.is_overdue(today_ist(turn.now)) else "dues.line_due"
            total += "\n" + turn.t(key, date=show_date(dues.due_date, language))
    return {
        "consumer_no": account.consumer_no,
        "name": mask_name(account.name),
        "lines": "\n".join(lines),
        "total": total,
        "supply": supply_text(turn, account.supply),
    }


def _bill_line(turn: Turn, dues: Dues) -> str:
    """The latest bill: unpaid, part-paid or paid."""
    key = "dues.line_bill"
    if dues.current_bill == 0 and dues.current_billed > 0:
        key = "dues.line_bill_paid"
    elif dues.current_bill < dues.current_billed:
        key = "dues.line_bill_part_paid"
    return turn.t(key, month=_month(dues.bill_month, turn.language),
                  amount=format_inr(dues.current_bill, turn.language),
                  billed=format_inr(dues.current_billed, turn.language))


def _month(bill_month: str | None, language: str) -> str:
    if not bill_month:
        return "—"
    year, month = (int(part) for part in bill_month.split("-"))
    return format_date(date(year, month, 1), format="MMM y", locale=f"{language}_IN")


def supply_text(turn: Turn, supply: Supply) -> str:
    if supply.state == "disconnected":
        key = "supply.disconnected_non_payment" if supply.reason == "non_payment" else (
            "supply.disconnected")
        if supply.since is None:
            return turn.t(key + "_undated")
        return turn.t(key, since=show_datetime(supply.since, turn.language))
    return turn.t(f"supply.{supply.state}")
