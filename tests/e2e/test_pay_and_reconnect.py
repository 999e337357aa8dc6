"""Use case: a consumer cut for non-payment pays, and the supply comes back by itself."""

from __future__ import annotations

from sqlalchemy import select

from discom.models import Meter
from tests.drivers import ChatDriver
from tests.fakes.bijli_app import BijliApp, demo_no

DISCONNECTED = "disconnected for non-payment, with charges"


async def test_paying_the_total_in_the_sandbox_reconnects_and_tells_the_consumer(bijli: BijliApp):
    chat = ChatDriver(bijli.services.dialog, "payer")
    await chat.start_in("en")
    answer = await chat.send(f"/pay {demo_no(DISCONNECTED)}")
    assert "Total payable: ₹2,870.00" in answer
    link = chat.last[0].link
    assert link and "/sandbox/pay/plink_" in link
    await bijli.pay(link)

    await bijli.drain()

    kinds = [m.kind for m in await bijli.messages("payer")]
    assert kinds == ["payment_received", "reconnection_started", "supply_restored"]
    assert [p.amount_paise for p in await bijli.payments(demo_no(DISCONNECTED))] == [287000]
    [order] = await bijli.orders(demo_no(DISCONNECTED))
    assert order.status == "confirmed"
    assert len(bijli.services.simulator.commands) == 1
    async with bijli.db.uow() as uow:
        meter = await uow.session.scalar(select(Meter).where(Meter.id == order.meter_pk))
    assert meter.relay_state == "connected"
    assert "Supply restored" in "\n".join(bijli.console_lines)
