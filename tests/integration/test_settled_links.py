"""Use case: the dues are cleared another way, and the links still open are cancelled.

A consumer asks for a payment link, then pays at the cash counter. The link would take the
same money a second time, so the worker cancels it at Razorpay (the real SDK against the
sandbox); an account that still owes keeps its link, and a link Razorpay will not cancel
(paid meanwhile) is credited as usual.
"""

from __future__ import annotations

import pytest

from discom.payments.sandbox import SandboxError
from tests.fakes.bijli_app import BijliApp, demo_no
from tests.payment_steps import (
    DISCONNECTED,
    DISCONNECTED_TOTAL,
    ask_for_link,
    dues_of,
    fresh_database,  # noqa: F401 - autouse: an empty database on PostgreSQL
    link_chat_to,
    links_of,
    payment_credits,
)


async def test_a_link_is_cancelled_when_the_dues_are_paid_in_cash(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)

    answer = await bijli.post_ops_payment(consumer_no, DISCONNECTED_TOTAL, "CASH-SETTLE-1")
    assert answer.status_code == 201
    await bijli.drain()

    [link] = await links_of(bijli, consumer_no)
    assert link.status == "cancelled"
    assert bijli.razorpay.link(payer.link_id).status == "cancelled"
    with pytest.raises(SandboxError):
        bijli.razorpay.pay(payer.link_id)
    assert await payment_credits(bijli, consumer_no) == [DISCONNECTED_TOTAL]


async def test_after_part_is_paid_only_the_link_for_what_remains_stays_open(
        bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    await link_chat_to(bijli, "payer", consumer_no)  # the holder: told of it all
    payer = await ask_for_link(bijli, consumer_no)

    await bijli.post_ops_payment(consumer_no, 100_000, "CASH-SETTLE-2")
    await bijli.drain()

    remaining = DISCONNECTED_TOTAL - 100_000
    assert (await dues_of(bijli, consumer_no)).total == remaining
    first, second = await links_of(bijli, consumer_no)
    assert (first.status, first.amount_paise) == ("cancelled", DISCONNECTED_TOTAL)
    assert bijli.razorpay.link(payer.link_id).status == "cancelled"
    assert (second.status, second.amount_paise) == ("created", remaining)
    assert second.short_url in "\n".join(bijli.console_lines)


async def test_a_link_paid_before_it_could_be_cancelled_is_credited(bijli: BijliApp):
    consumer_no = demo_no(DISCONNECTED)
    payer = await ask_for_link(bijli, consumer_no)
    checkout = bijli.razorpay.pay(payer.link_id)  # paid; its webhooks not yet delivered

    await bijli.post_ops_payment(consumer_no, DISCONNECTED_TOTAL, "CASH-SETTLE-3")
    await bijli.drain()  # Razorpay refuses the cancellation: the link is paid
    assert all(result.ok for result in await bijli.webhooks.deliver(checkout.events))
    await bijli.drain()

    [link] = await links_of(bijli, consumer_no)
    assert link.status == "paid"
    assert sorted(await payment_credits(bijli, consumer_no)) == [DISCONNECTED_TOTAL] * 2
    assert (await dues_of(bijli, consumer_no)).advance == DISCONNECTED_TOTAL
