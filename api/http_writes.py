"""One system call per response: uvicorn's httptools protocol with its writes of one turn of the
event loop joined.

uvicorn writes a response's status line and headers, then its body, each with its own
`transport.write`, which uvloop sends at once: two `send` system calls per response, made on the
event loop, which holds the GIL meanwhile (on loopback the sender's call also does the receiver's
TCP work). Under wrk they were the event loop's largest single cost. Here the writes a turn of the
loop makes are kept and sent together right after it (`loop.call_soon`), so a plain response is one
system call; nothing waits longer than that turn, and closing the connection sends what is kept
first. `fundcenter serve` runs uvicorn with this protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWrites:
    """A transport whose writes of one turn of the event loop go out in one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._kept: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._kept:
            self._loop.call_soon(self.flush)
        self._kept.append(data)

    def flush(self) -> None:
        if not self._kept:
            return
        kept, self._kept = self._kept, []
        if not self._transport.is_closing():
            self._transport.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # the rest (is_closing, pause_reading, get_extra_info...) as it is
        return getattr(self._transport, name)


class JoinedWritesHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `JoinedWrites` transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
