"""A body-size limit for every route, enforced as the bytes arrive (an ASGI middleware).

FastAPI reads and parses a JSON body before any dependency (such as the ops token check)
runs, and nothing bounds what it reads: an unauthenticated 200 MB post costs 200 MB and more.
This middleware sits in front of the whole app. A request whose Content-Length is over its
route's limit is answered 413 before a byte of the body is read; a chunked (or lying) body is
counted chunk by chunk and cut off with 413 as soon as it passes the limit, so no request
ever holds more than its limit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """The limit per path prefix (the longest matching prefix wins), else `default`."""

    default: int = DEFAULT_LIMIT_BYTES
    by_prefix: Mapping[str, int] = field(default_factory=dict)

    def for_path(self, path: str) -> int:
        matches = [prefix for prefix in self.by_prefix if path.startswith(prefix)]
        return self.by_prefix[max(matches, key=len)] if matches else self.default


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        channel = _CountingChannel(receive, send, limit)
        try:
            await self.app(scope, channel.receive, channel.send)
        except Exception:
            # The app saw the client "go away" mid-body (ClientDisconnect); the 413 is sent.
            if not channel.refused:
                raise


class _CountingChannel:
    """`receive` and `send` for one request. Past the limit, `receive` answers 413 itself and
    tells the app the client went away; whatever the app then tries to send is dropped."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self._limit = receive, send, limit
        self._received = 0
        self._started = False
        self._refused = False

    @property
    def refused(self) -> bool:
        return self._refused

    async def receive(self) -> Message:
        if self._refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                self._refused = True
                if not self._started:
                    await _too_large(self._send, self._limit)
                    self._started = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"body too large (limit {limit} bytes)"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
