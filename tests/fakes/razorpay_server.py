"""The payment sandbox served by uvicorn on 127.0.0.1, for tests that run the real SDK.

The razorpay SDK talks through `requests`, which cannot be pointed at an ASGI app, so the
sandbox gets a real socket: a free port, plain http (the SDK pins its own CA bundle, so a
local https fake would be refused), and a uvicorn server on a background thread.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from api.sandboxes.razorpay import API_PREFIX, razorpay_sandbox_app
from discom.payments.sandbox import SANDBOX_KEY_ID, SANDBOX_KEY_SECRET, PaymentSandbox

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


def bound_listener() -> tuple[socket.socket, str]:
    """A socket bound to a free port before the app exists, so the app can know its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def serve(app: Any, listener: socket.socket) -> Iterator[None]:
    """Run `app` under uvicorn on `listener` (background thread) until the block exits."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            listener.close()
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_LIMIT_SECONDS)
        listener.close()


@pytest.fixture
def razorpay_server() -> Iterator[RazorpayServer]:
    """A fresh sandbox account behind a live HTTP server (no webhook endpoint)."""
    listener, url = bound_listener()
    sandbox = PaymentSandbox(public_base_url=url)
    with serve(razorpay_sandbox_app(sandbox), listener):
        try:
            yield RazorpayServer(sandbox=sandbox, root_url=url)
        finally:
            sandbox.api_delay_seconds = 0  # free any request a test left stalled
