"""Acceptance: on the embedded default, `bijli chat` shows dues in both languages, and a
disconnected consumer who pays in the sandbox sees "supply restored" with no other step.

Real processes: the app served by uvicorn (payment sandbox, HES simulator and worker inside),
and `bijli chat` as a subprocess talking to it, exactly as `make run` + `bijli chat` do.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from discom.db import Database
from discom.demo import seed
from tests.fakes.bijli_app import demo_no, serve_live, test_settings
from tests.fakes.threaded_server import bound_listener

BIJLI = Path(sys.executable).parent / "bijli"
WAIT_SECONDS = 30.0


class ChatProcess:
    """`bijli chat` on pipes: send lines, wait for text to appear on its output."""

    def __init__(self, env: dict[str, str], chat_id: str) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            [str(BIJLI), "chat", "--chat-id", chat_id], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        self.output = ""
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + WAIT_SECONDS
        while text not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} never appeared; output was:\n{self.output}")
            try:
                self.output += self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
        return self.output

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


async def _seed(database_url: str) -> None:
    db = Database(database_url)  # this loop's own engine; the server builds its own
    try:
        await seed(db)
    finally:
        await db.dispose()


@pytest.fixture
def live_embedded(db: Database, database_url: str) -> Iterator[dict[str, str]]:
    """The embedded default on a real port; yields the environment `bijli chat` needs."""
    listener, url = bound_listener()
    settings = test_settings(database_url, url)
    asyncio.run(_seed(database_url))
    app = create_app(settings, run_worker=True)
    with serve_live(app, listener):
        yield {**os.environ, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": url,
               "BIJLI_ENV": "test", "DEFAULT_LANGUAGE": "hi"}


@pytest.fixture
def chat_process(live_embedded: dict[str, str]) -> Iterator[ChatProcess]:
    chat = ChatProcess(live_embedded, "acceptance")
    try:
        yield chat
    finally:
        chat.close()


def test_the_console_answers_what_do_i_owe_in_hindi_and_english(chat_process: ChatProcess):
    chat_process.send("hi")
    chat_process.wait_for("English")
    chat_process.send("1")
    chat_process.send("मेरा बकाया कितना है?")
    chat_process.wait_for("उपभोक्ता क्रमांक")
    chat_process.send(demo_no("disconnected for non-payment, with charges"))
    chat_process.wait_for("कुल देय राशि: ₹2,870.00")
    chat_process.send("/language")
    chat_process.send("2")
    chat_process.send("what do I owe?")
    chat_process.send(demo_no("overdue by 10 days"))
    chat_process.wait_for("Total payable: ₹2,310.00")


def test_a_disconnected_consumer_pays_in_the_sandbox_and_sees_supply_restored(
    chat_process: ChatProcess,
):
    chat_process.send("hi")
    chat_process.send("2")
    chat_process.send(f"/pay {demo_no('disconnected for non-payment, with charges')}")
    output = chat_process.wait_for("/sandbox/pay/plink_")
    link = next(word for word in output.split() if "/sandbox/pay/plink_" in word)

    paid = httpx.post(link, timeout=WAIT_SECONDS)  # the checkout page's "Pay" button
    assert paid.status_code == 200 and "Payment successful" in paid.text

    chat_process.wait_for("Payment of ₹2,870.00 received")
    chat_process.wait_for("Reconnection of meter SM1000000004 has started")
    output = chat_process.wait_for("Supply restored: meter SM1000000004")
    assert output.index("received") < output.index("has started") < output.index(
        "Supply restored")


def test_a_payment_service_that_is_down_never_puts_the_sdks_words_in_the_chat(
    db: Database, database_url: str
):
    asyncio.run(_seed(database_url))
    listener, url = bound_listener()
    listener.close()  # nothing listens there: the Razorpay sandbox is "down"
    chat = ChatProcess({**os.environ, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": url,
                        "BIJLI_ENV": "test", "DEFAULT_LANGUAGE": "en"}, "down")
    try:
        chat.send("hi")
        chat.send("2")
        chat.send(f"/pay {demo_no('overdue by 10 days')}")
        output = chat.wait_for("could not make a payment link just now")
    finally:
        chat.close()
    assert "Connection failed" not in output and "razorpay" not in output.lower()
