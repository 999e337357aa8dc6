"""Pure parts of delivery: the pacer's arithmetic, quiet hours, WhatsApp rendering of a
turn, and the signed QR image URLs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.channels.media import QrLinks
from bot.channels.whatsapp import InvalidInbound, parse_inbound, render_turn
from bot.dialog.messages import Button, Reply
from discom.notify.pacing import HEADROOM, Pacer
from discom.reminders import QuietHours


class FakeTime:
    """A clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.starts: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


async def test_sends_are_evenly_spaced_at_the_rate_with_headroom():
    time = FakeTime()
    pacer = Pacer(10, clock=time.clock, sleep=time.sleep)
    for _ in range(21):
        await pacer.acquire()
        time.starts.append(time.now)
    gaps = {round(b - a, 6) for a, b in zip(time.starts, time.starts[1:], strict=False)}
    assert gaps == {round(1 / (10 * HEADROOM), 6)}
    assert sum(1 for at in time.starts if at < time.starts[0] + 1.0) <= 10


async def test_one_chat_gets_at_most_one_message_per_interval_others_are_not_held():
    time = FakeTime()
    pacer = Pacer(30, per_chat=1.0, clock=time.clock, sleep=time.sleep)
    await pacer.acquire("a")
    first = time.now
    await pacer.acquire("b")
    assert time.now - first < 0.1  # another chat goes at the overall rate
    await pacer.acquire("a")
    assert time.now - first >= 1.0


async def test_a_pause_holds_every_send_and_costs_count():
    time = FakeTime()
    pacer = Pacer(10, clock=time.clock, sleep=time.sleep)
    await pacer.acquire()
    pacer.pause(5)
    before = time.now
    await pacer.acquire()
    assert time.now - before >= 5
    start = time.now
    await pacer.acquire(cost=3)  # an SMS of three segments
    await pacer.acquire()
    assert time.now - start >= 3 / 10


async def test_concurrent_senders_share_the_pacer_and_never_exceed_the_rate():
    pacer = Pacer(100)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def send() -> None:
        await pacer.acquire()
        starts.append(loop.time())

    await asyncio.gather(*(send() for _ in range(150)))
    starts.sort()
    busiest = max(sum(1 for at in starts if first <= at < first + 1.0) for first in starts)
    assert busiest <= 100
    assert (len(starts) - 1) / (starts[-1] - starts[0]) >= 95


@pytest.mark.parametrize(("ist", "quiet"), [
    ("20:59", False), ("21:00", True), ("23:30", True), ("03:00", True), ("08:59", True),
    ("09:00", False), ("14:00", False)])
def test_quiet_hours_wrap_past_midnight_in_ist(ist: str, quiet: bool):
    hours = QuietHours.parse("21:00-09:00")
    hour, minute = map(int, ist.split(":"))
    # IST is UTC+5:30
    utc_minutes = (hour * 60 + minute - 330) % (24 * 60)
    moment = datetime(2026, 11, 27, utc_minutes // 60, utc_minutes % 60, tzinfo=UTC)
    assert hours.contains(moment) is quiet


def test_quiet_hours_end_at_the_next_morning():
    hours = QuietHours.parse("21:00-09:00")
    night = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 22:30 IST
    assert hours.end_after(night) == datetime(2026, 11, 28, 3, 30, tzinfo=UTC)  # 09:00 IST
    assert QuietHours.parse("") is None


def test_a_turn_is_one_whatsapp_message_with_numbered_buttons_and_the_qr_apart():
    menu = Reply("What would you like to do?",
                 buttons=((Button("menu:dues", "बकाया देखें"),), (Button("menu:pay", "भुगतान"),)))
    pay = Reply("Pay here: https://rzp.io/i/x", link="https://rzp.io/i/x", image_png=b"png")
    outgoing = render_turn([Reply("Done."), menu, pay, Reply("More?")])
    assert [o.text for o in outgoing] == [
        "Done.\n\nWhat would you like to do?\n1. बकाया देखें\n2. भुगतान",
        "Pay here: https://rzp.io/i/x", "More?"]
    assert [o.qr_of for o in outgoing] == [None, "https://rzp.io/i/x", None]
    long = render_turn([Reply("x" * 3000)])
    assert len(long) == 2 and all(len(o.text) <= 1600 for o in long)


def test_inbound_forms_are_read_strictly():
    form = {"MessageSid": "SM1", "From": "whatsapp:+919812345670", "Body": "hi"}
    message = parse_inbound(form)
    assert (message.sid, message.sender, message.text) == ("SM1", "+919812345670", "hi")
    photo = parse_inbound({**form, "Body": "", "NumMedia": "1"})
    assert photo.text is None
    for bad in ({**form, "MessageSid": ""}, {**form, "From": "+919812345670"},
                {**form, "From": "whatsapp:hello"}):
        with pytest.raises(InvalidInbound):
            parse_inbound(bad)
    assert parse_inbound({**form, "From": "+919812345670"}, prefix="").sender == "+919812345670"


def test_qr_links_are_signed_and_tampering_is_refused():
    links = QrLinks("auth-token", "https://bijli.example.in/")
    url = links.url("https://rzp.io/i/AbCd")
    assert url.startswith("https://bijli.example.in/media/qr/") and url.endswith(".png")
    token = url.rsplit("/", 1)[1].removesuffix(".png")
    assert links.link(token) == "https://rzp.io/i/AbCd"
    encoded, signature = token.split(".")
    assert links.link(encoded + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B")
                      ) is None
    assert QrLinks("another-token", "https://bijli.example.in").link(token) is None
    assert links.link("not-a-token") is None
