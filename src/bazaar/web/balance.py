"""Keep-alive connections shared fairly among a node's web processes.

Each web process listens on a socket of its own (SO_REUSEPORT) and the kernel deals every new connection to one
of them by a hash of its addresses, whatever each is doing. Clients that keep their connections (API clients, a
load balancer's upstream pool, a benchmark) stay where they were dealt: 16 connections over two processes came
out 13 and 3, and 11 and 5, and the process with more served each at twice the latency of the other, while
the other had cores to spare (2026-12-06, `serve --workers 2`, 240 checkouts at 16 in flight: p99 484 ms split
11/5, 310 ms split 8/8, on the same machine minutes apart).

So each web process counts the connections it is serving (those with a request in flight or one within the
last second) and publishes the count on the node's load board (supervision/board.py). When a response starts,
this process is busy (another request in flight: requests are waiting on each other here) and it serves more
than an even share of the node's connections by more than half of one, the response carries `Connection:
close`: the client finishes reading it and opens a new connection, which the kernel deals afresh. A process over
its share sheds one connection per response until it is back within it; HTTP/1.1 clients reconnect on their own
(RFC 9112, 9.6), and the request itself is answered as usual. A process answering one request at a time sheds
nothing, so light traffic is never made to reconnect.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.kernel.metrics import DOMAIN_REGISTRY
from bazaar.supervision.board import LoadBoard

ACTIVE_SECONDS = 1.0  # a connection with a request within this long counts as served
_CLOSE = (b"connection", b"close")
ConnectionKey = tuple[str, int]
SHED = Counter(
    "bazaar_connections_shed",
    "Responses this web process sent with Connection: close because it served more than its share of the node's"
    " connections",
    registry=DOMAIN_REGISTRY,
)


class ConnectionBalance:
    def __init__(
        self, app: ASGIApp, *, board: LoadBoard, active_seconds: float = ACTIVE_SECONDS, busy_from: int = 2
    ) -> None:
        self.app = app
        self.board = board
        self.active_seconds = active_seconds
        self.busy_from = busy_from  # requests in flight (this one included) from which the process is busy
        self._seen: OrderedDict[ConnectionKey, float] = OrderedDict()  # connection -> last request, oldest first
        self._busy: dict[ConnectionKey, int] = {}  # connections with a request in flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client:
            await self.app(scope, receive, send)
            return
        key: ConnectionKey = (client[0], client[1])
        self._busy[key] = self._busy.get(key, 0) + 1
        self._saw(key)
        closing = False

        async def send_balanced(message: Message) -> None:
            nonlocal closing
            if message["type"] == "http.response.start" and len(self._busy) >= self.busy_from and self.over_share():
                closing = True
                SHED.inc()
                self._seen.pop(key, None)  # gone once this response is read: the next decision counts without it
                self.board.publish(len(self._seen))
                message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
            await send(message)

        try:
            await self.app(scope, receive, send_balanced)
        finally:
            left = self._busy.pop(key) - 1
            if left:
                self._busy[key] = left
            if not closing:
                self._saw(key)

    def _saw(self, key: ConnectionKey) -> None:
        now = time.monotonic()
        seen = self._seen
        seen[key] = now
        seen.move_to_end(key)
        while seen:  # forget connections quiet for a while (closed, or idle: either way not a load)
            oldest, at = next(iter(seen.items()))
            if now - at < self.active_seconds:
                break
            del seen[oldest]
            if oldest in self._busy:  # a long request still in flight: still served
                seen[oldest] = now
        self.board.publish(len(seen))

    def over_share(self) -> bool:
        """More connections here than an even share of the node's, by more than half of one."""
        counts = self.board.counts()
        mine = len(self._seen)
        if mine < 2 or len(counts) < 2:
            return False
        counts[self.board.slot] = mine
        return 2 * len(counts) * mine > 2 * sum(counts) + len(counts)
