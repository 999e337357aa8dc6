"""An ASGI app under uvicorn on a background thread, for the fake servers and live-app tests.

The thread has its own event loop, so tests of any kind (async tests, or a synchronous CLI
running its own `asyncio.run`) can talk to the app over a real socket.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serving_in_thread(app: Any, listener: socket.socket, *, what: str, lifespan: str = "off",
                      graceful_seconds: float = 2, start_limit: float = 10.0
                      ) -> Iterator[None]:
    """Serve `app` on `listener` until the block exits; the listener is closed after.
    Raises RuntimeError naming `what` when the server has not started within `start_limit`."""
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan=lifespan,
        timeout_graceful_shutdown=graceful_seconds))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                              name=what, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_limit
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=max(start_limit, graceful_seconds + 5))
        listener.close()


def bound_listener() -> tuple[socket.socket, str]:
    """A socket bound to a free port on 127.0.0.1, and its URL: bound before the app exists,
    so the app can know where it is served."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"
