"""uvicorn's httptools protocol, writing each response's header block and first body bytes together.

uvicorn writes the header block as soon as the app sends `http.response.start` and the body
when it sends `http.response.body`: two socket writes per response. Each write is a system
call during which uvloop gives up the GIL, and taking it back on a busy web process waits
behind the search threads; on loopback each write also wakes the client. Profiling the event
loop under the 16-client search benchmark put about a quarter of its busy time in these writes.

Here the header block is held until the first body write and both go out in one call. An
interim response (`100 Continue`) is written at once, since the client waits for it before it
sends the body. A response without body bytes (HEAD) has its header block written when it
completes, and one whose app failed after starting it, when the connection is closed.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadWithBody:
    """A transport for one request/response cycle: the first final-response write waits for the next."""

    __slots__ = ("_transport", "_head", "_started")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started:
            if data.startswith(b"HTTP/1.1 1"):  # interim (1xx): the client is waiting for it
                self._transport.write(data)
                return
            self._started, self._head = True, data
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


CONNECTION = "bazaar.connection"  # scope key: which connection carried the request (web/balance.py)
_connections = itertools.count(1)  # names never reused in the process (an object's id may be, once it is freed)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    _name: int | None = None  # this connection's, given at its first request

    def on_headers_complete(self) -> None:
        # The connection, named before uvicorn's proxy-headers middleware replaces `client` with the address a
        # trusted proxy forwarded (one for all of a user's requests, whichever connection carried them).
        if self._name is None:
            self._name = next(_connections)
        self.scope[CONNECTION] = self._name  # type: ignore[literal-required]
        super().on_headers_complete()
        cycle = self.cycle
        # The cycle's task has been created but has not run yet: nothing has been written.
        if cycle is None or self.transport is None:
            return
        transport = _HeadWithBody(self.transport)
        cycle.transport = transport  # type: ignore[assignment]
        completed = cycle.on_response

        def on_response() -> None:  # a response with no body bytes (HEAD) ends with its header block unsent
            transport.flush()
            completed()

        cycle.on_response = on_response
