"""The payment sandbox served by uvicorn on 127.0.0.1, for tests that run the real SDK.

The razorpay SDK talks through `requests`, which cannot be pointed at an ASGI app, so the
sandbox gets a real socket: a free port, plain http (the SDK pins its own CA bundle, so a
local https fake would be refused), and a uvicorn server on a background thread.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.sandboxes.razorpay import API_PREFIX, razorpay_sandbox_app
from discom.payments.sandbox import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, PaymentSandbox
from tests.fakes.threaded_server import bound_listener, serving_in_thread

STARTUP_LIMIT_SECONDS = 10.0


@dataclass(frozen=True)
class RazorpayServer:
    sandbox: PaymentSandbox
    root_url: str  # http://127.0.0.1:PORT
    key_id: str = SANDBOX_KEY_ID
    key_secret: str = SANDBOX_KEY_SECRET

    @property
    def api_base_url(self) -> str:
        """What RAZORPAY_API_BASE_URL would be; the SDK appends /v1/…"""
        return f"{self.root_url}{API_PREFIX}"


def unused_port() -> int:
    """A port nothing listens on (bound, read, released): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def razorpay_server() -> Iterator[RazorpayServer]:
    """A fresh sandbox account behind a live HTTP server (no webhook endpoint)."""
    listener, url = bound_listener()
    sandbox = PaymentSandbox(public_base_url=url)
    with serving_in_thread(razorpay_sandbox_app(sandbox), listener, what="the sandbox server",
                           start_limit=STARTUP_LIMIT_SECONDS):
        try:
            yield RazorpayServer(sandbox=sandbox, root_url=url)
        finally:
            sandbox.api_delay_seconds = 0  # free any request a test left stalled
