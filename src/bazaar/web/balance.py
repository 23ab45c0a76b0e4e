"""Keep-alive connections shared fairly among a node's web processes.

Each web process listens on a socket of its own (SO_REUSEPORT) and the kernel deals every new connection to one
of them by a hash of its addresses, whatever each is doing. Clients that keep their connections (API clients, a
load balancer's upstream pool, a benchmark) stay where they were dealt: 16 connections over two processes came
out 13 and 3, and 11 and 5, and the process with more served each at twice the latency of the other, while
the other had cores to spare (2026-12-06, `serve --workers 2`, 240 checkouts at 16 in flight: p99 484 ms split
11/5, 310 ms split 8/8, on the same machine minutes apart).

So each web process counts the connections it is serving (those with a request in flight or one within the
last second) and publishes the count on the node's load board (supervision/board.py), several times a second.
When a response starts, this process is busy (another request in flight: requests are waiting on each other
here) and it serves more connections than the most an even split of the node's gives one process, the response
carries `Connection: close`: the client finishes reading it and opens a new connection,
which the kernel deals afresh. A process sheds at most one connection per `SHED_INTERVAL_SECONDS`, until it is
within its share. HTTP/1.1 clients reconnect on their own (RFC 9112, 9.6), and the request itself is answered
as usual; requests a client pipelined behind it go unanswered, which a client must expect of any kept-alive
connection (and may pipeline only requests safe to repeat).

Left alone: a process answering one request at a time (light traffic is never made to reconnect); every process
while a sibling is absent from the board (starting, restarting, hung: a reconnect could be dealt to it, where it
would wait); connections that end with this request anyway (HTTP/1.0, `Connection: close`)
or whose response already says what becomes of the connection. A connection is known by the protocol's own
name for it (web/http_protocol.py), since `client` may be an address a trusted proxy forwarded, the same for
every connection of one user; without that name (another server), nothing is balanced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import cast

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.kernel.metrics import DOMAIN_REGISTRY
from bazaar.supervision.board import LoadBoard
from bazaar.web.http_protocol import CONNECTION

log = logging.getLogger("bazaar.web")
ACTIVE_SECONDS = 1.0  # a connection with a request within this long counts as served
PUBLISH_SECONDS = 0.25  # the count is written this often, busy or idle (the board's slots go stale after 1 s)
SHED_INTERVAL_SECONDS = 0.1
_CLOSE = (b"connection", b"close")
SHED = Counter(
    "bazaar_connections_shed",
    "Responses this web process sent with Connection: close because it served more than its share of the node's"
    " connections",
    registry=DOMAIN_REGISTRY,
)


class ConnectionShare:
    """What this process counts of its connections, and its decision to shed one."""

    def __init__(
        self,
        board: LoadBoard,
        *,
        active_seconds: float = ACTIVE_SECONDS,
        busy_from: int = 2,
        shed_interval: float = SHED_INTERVAL_SECONDS,
    ) -> None:
        self.board = board
        self.active_seconds = active_seconds
        self.busy_from = busy_from  # requests in flight (the one answered included) from which the process is busy
        self.shed_interval = shed_interval
        self._seen: OrderedDict[int, float] = OrderedDict()  # connection -> its last request, oldest first
        self._busy: dict[int, int] = {}  # connections with a request in flight
        self._last_shed = -shed_interval

    def started(self, connection: int) -> None:
        self._busy[connection] = self._busy.get(connection, 0) + 1
        self._saw(connection)

    def ended(self, connection: int, *, closed: bool) -> None:
        left = self._busy.pop(connection) - 1
        if left:
            self._busy[connection] = left
        if not closed:
            self._saw(connection)

    def refresh(self) -> None:
        """Forget connections quiet for a while and publish the count (also while no request comes)."""
        now = time.monotonic()
        seen = self._seen
        while seen:
            oldest, at = next(iter(seen.items()))
            if now - at < self.active_seconds:
                break
            del seen[oldest]  # closed, or idle: either way not a load
            if oldest in self._busy:  # a long request still in flight: still served
                seen[oldest] = now
        self.board.publish(len(seen))

    def _saw(self, connection: int) -> None:
        self._seen[connection] = time.monotonic()
        self._seen.move_to_end(connection)
        self.refresh()

    def shed(self, connection: int) -> bool:
        """Whether the response now starting on `connection` should close it; if so, it is no longer counted."""
        if len(self._busy) < self.busy_from or not self.over_share():
            return False
        now = time.monotonic()
        if now - self._last_shed < self.shed_interval:
            return False
        self._last_shed = now
        self._seen.pop(connection, None)  # gone once this response is read: the next decision counts without it
        self.board.publish(len(self._seen))
        SHED.inc()
        return True

    def over_share(self) -> bool:
        """More connections here than the most an even split of the node's connections gives one process (16 over
        two: 8; over three: 6, so 6/5/5 is even and stable); never while a sibling is absent from the board (one
        that is starting or hung would be sent connections it cannot serve)."""
        mine = len(self._seen)
        counts = self.board.counts()
        counts[self.board.slot] = mine
        if mine < 2 or len(counts) < 2 or None in counts:
            return False
        live = cast(list[int], counts)
        return (mine - 1) * len(live) >= sum(live)  # mine > ceil(total / processes)

    async def keep_publishing(self, stop: asyncio.Event, *, interval: float = PUBLISH_SECONDS) -> None:
        """Publish the count every `interval` until `stop`: a process that stops publishing is absent."""
        while not stop.is_set():
            try:
                self.refresh()
            except Exception:  # never let it end the process's shutdown early; the next round tries again
                log.warning("could not publish this process's connection count", exc_info=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)


def _ends_anyway(scope: Scope) -> bool:
    if scope.get("http_version") == "1.0":
        return True
    return any(name == b"connection" and b"close" in value.lower() for name, value in scope.get("headers", ()))


class ConnectionBalance:
    def __init__(self, app: ASGIApp, *, share: ConnectionShare) -> None:
        self.app = app
        self.share = share

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = scope.get(CONNECTION)
        if scope["type"] != "http" or connection is None or _ends_anyway(scope):
            await self.app(scope, receive, send)
            return
        share = self.share
        share.started(connection)
        closing = False

        async def send_balanced(message: Message) -> None:
            nonlocal closing
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if not any(name.lower() == b"connection" for name, _ in headers) and share.shed(connection):
                    closing = True
                    message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        try:
            await self.app(scope, receive, send_balanced)
        finally:
            share.ended(connection, closed=closing)
