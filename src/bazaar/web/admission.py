"""Admission control for writes: a bound on the writes each web process runs at once, so reads keep their budgets.

Reads (product pages, search, category pages) share each process's event loop with writes. A checkout costs
tens of milliseconds of CPU spread over a dozen database round trips; with many in flight, every read waits
behind their slices, and everybody slows down together. Here each process runs at most `checkouts` checkouts
and `writes` other writes at once; the rest wait in line (waiting costs no CPU) for up to `wait` seconds, and
past that are turned away with 503 `overloaded` and `Retry-After` (admission control, rather than everybody
slowing down). Reads never wait here.

Exempt: the flash-sale hold path (it batches holds into one statement and has its own queue), the payment
provider's webhooks (the provider retries on its own schedule) and anything that is not a write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.kernel.waiting import holding, reset
from bazaar.web.errors import envelope, wants_page

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_AFTER_SECONDS = 1


@dataclass
class LaneFigures:
    admitted: int = 0
    queued: int = 0  # admitted after waiting for a free slot
    refused: int = 0
    waited_seconds: float = 0.0


class Lane:
    """At most `size` requests at once; the others wait in arrival order (asyncio.Semaphore is fair)."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, size
        self._slots = asyncio.Semaphore(size)
        self.figures = LaneFigures()

    @property
    def in_flight(self) -> int:
        return self.size - self._slots._value

    async def enter(self, wait: float) -> bool:
        if not self._slots.locked():
            await self._slots.acquire()
            self.figures.admitted += 1
            return True
        started = time.monotonic()
        try:
            async with asyncio.timeout(wait):
                await self._slots.acquire()
        except TimeoutError:
            self.figures.refused += 1
            return False
        self.figures.admitted += 1
        self.figures.queued += 1
        self.figures.waited_seconds += time.monotonic() - started
        return True

    def leave(self) -> None:
        self._slots.release()

    async def come_back(self) -> None:
        """A slot again for a request that gave its up to wait elsewhere: in line, however long the line."""
        await self._slots.acquire()


class Lanes:
    """A process's admission lanes (None: that lane is not bounded), shared by the middleware and /metrics."""

    def __init__(self, *, checkouts: int, writes: int, wait: float) -> None:
        self.checkout = Lane("checkout", checkouts) if checkouts > 0 else None
        self.write = Lane("write", writes) if writes > 0 else None
        self.wait = wait

    def __iter__(self) -> Iterator[Lane]:
        return iter([lane for lane in (self.checkout, self.write) if lane is not None])


class WriteAdmission:
    def __init__(self, app: ASGIApp, *, prefix: str, lanes: Lanes) -> None:
        self.app = app
        self.lanes = lanes
        self.checkout_paths = (prefix + "/checkout", "/checkout")  # the API and the storefront's form
        self.exempt = (prefix + "/reservations", prefix + "/flash-sales", prefix + "/webhooks", "/_sandbox/")

    def lane_for(self, scope: Scope) -> Lane | None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            return None
        path: str = scope["path"]
        if path.startswith(self.exempt):
            return None
        if path in self.checkout_paths:  # placing an order; /checkout/quote and /checkout/{id} are light
            return self.lanes.checkout
        return self.lanes.write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lane_for(scope)
        if lane is None:
            await self.app(scope, receive, send)
            return
        if not await lane.enter(self.lanes.wait):
            await _overloaded(scope, receive, send)
            return
        place = AdmittedPlace(lane)
        token = holding(place)
        try:
            await self.app(scope, receive, send)
        finally:
            reset(token)
            place.close()


class AdmittedPlace:
    """A request's slot in its lane. Given up while the request waits on the payment provider (kernel.waiting):
    the lane bounds the work a process does at once, and a checkout waiting 100 ms on the network does none,
    so one slot per process would otherwise cap it at 1 / latency checkouts a second. Taken again, in line
    behind those already waiting, before the request goes on (a request holding a payment in flight is never
    turned away)."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.held = True
        self.closed = False  # the request is over
        # Only the request's own task moves its slot: a task it started sees the place (context variables are
        # copied) but neither gives up nor takes again what is not its own.
        self.owner = asyncio.current_task()

    def give_up(self) -> None:
        if self.held and asyncio.current_task() is self.owner:
            self.held = False
            self.lane.leave()

    async def take_again(self) -> None:
        if not self.held and not self.closed and asyncio.current_task() is self.owner:
            await self.lane.come_back()
            self.held = True
            if self.closed:  # the request ended while this waited in line
                self.close()

    def close(self) -> None:
        self.closed = True
        if self.held:
            self.held = False
            self.lane.leave()


async def _overloaded(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    message = "the shop is very busy right now; please try again in a moment"
    page_error = getattr(scope["app"].state, "page_error", None)
    response: Response
    if page_error is not None and wants_page(request):
        response = await page_error(request, 503, message)
    else:
        response = JSONResponse(envelope("overloaded", message), status_code=503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    await response(scope, receive, send)
