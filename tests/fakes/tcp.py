"""Misbehaving TCP servers, on 127.0.0.1, in the test's own event loop.

- `SilentServer`: accepts connections and never says a word (a database that hangs).
- `Gate`: closes every connection at once (a server that is unreachable) until `open()`,
  then forwards connections to a real server.
"""

from __future__ import annotations

import asyncio
import contextlib


class _Server:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []
        self.port = 0

    async def __aenter__(self) -> _Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._held:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class SilentServer(_Server):
    """Accepts and stays silent: what a database does when it hangs."""

    connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)  # read nothing, answer nothing, keep it open


class Gate(_Server):
    """Unreachable (each connection closed at once) until `open()`; then a forwarder to
    127.0.0.1:`target_port`."""

    def __init__(self, target_port: int) -> None:
        super().__init__()
        self.target_port = target_port
        self.is_open = False
        self.refused = 0

    def open(self) -> None:
        self.is_open = True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            self.refused += 1
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port)
        self._held += [writer, upstream_writer]
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer),
                             return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
