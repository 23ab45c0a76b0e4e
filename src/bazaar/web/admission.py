"""Admission control for writes: a bound on the writes each web process runs at once, so reads keep their budgets.

Reads (product pages, search, category pages) share each process's event loop with writes. A checkout costs tens of
milliseconds of CPU spread over a dozen database round trips; with many in flight, every read waits behind their
slices, and everybody slows down together. Here each process runs at most `checkouts` checkouts (more with headroom,
below) and `writes` other writes at once; the rest wait in line (waiting costs no CPU) for up to `wait` seconds, and
past that are turned away with 503 `overloaded` and `Retry-After` (admission control, rather than everybody slowing
down). Reads never wait here.

A checkout waits on a dozen database round trips, and with one at a time a process sits idle for much of it (16
checkouts in flight on `serve --workers 2`, one per process: the machine 60-70 % busy). So the checkout lane has
`spare` slots more, taken only while the process has headroom: its event loop's last ten wake-ups (sampled every 50
ms, web/loop_lag.py) each came within `LAG_BUDGET_SECONDS` of their time; nothing known, no headroom. A loop that
lags is busy with other requests or kept off the cores by other processes, and every read it serves waits that long
already: then a process works on `size` checkouts at once, as before (a 32-shopper soak that saturates the cores put
product-page p99 at 160 ms with two per process, 58 ms with one). With the spare slot a rush of checkouts alone went
through 19-30 % faster, the same p99 or better; the soak kept its read latencies. A checkout let in on a spare slot
finishes there; one that gave its slot up to wait on the payment provider comes back in line like any other.

Exempt: the flash-sale hold path (it batches holds into one statement and has its own queue), the payment
provider's webhooks (the provider retries on its own schedule) and anything that is not a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.kernel.waiting import holding, reset
from bazaar.web.errors import envelope, wants_page
from bazaar.web.loop_lag import LoopLag

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_AFTER_SECONDS = 1
OUT, IN, SPARE = 0, 1, 2  # what a request waiting in a lane is given: nothing (its wait is over), a slot, a spare one
# A spare checkout slot only while the loop's last ten samples each came within this of their time. Measured on
# `serve --workers 2` (docs/PERFORMANCE.md, 2026-12-07): in a rush of checkouts alone (16 in flight), 98 % of the
# samples within 5 ms with one slot per process, 92 % with two; in the 32-shopper soak (reads, cart adds and
# checkouts saturating the cores) 45 %. At 10 ms the soak still widened 28 % of its checkouts and its reads
# slowed (product-page p99 176 against 153 ms); at 5 ms it widens 2 %, and the rush 75-85 %.
LAG_BUDGET_SECONDS = 0.005


@dataclass
class LaneFigures:
    admitted: int = 0
    queued: int = 0  # admitted after waiting for a free slot
    refused: int = 0
    waited_seconds: float = 0.0
    widened: int = 0  # admitted to a spare slot (past `size`), the process having headroom


class Lane:
    """At most `size` requests at once, `size + spare` while `headroom()`; the rest wait in arrival order.

    A waiter is let in when a slot is left free, when one comes in and finds room with nobody in line before it,
    or when `wake()` finds room (the loop's sampler calls it as headroom comes back); past its `wait` it is turned
    away. One line for all slots: a request that comes in as headroom comes back never passes one waiting."""

    def __init__(self, name: str, size: int, *, spare: int = 0, headroom: Callable[[], bool] | None = None) -> None:
        self.name, self.size = name, size
        self.spare = spare if headroom is not None else 0
        self.headroom = headroom
        self.figures = LaneFigures()
        self._in = 0
        self._line: deque[asyncio.Future[int]] = deque()

    @property
    def in_flight(self) -> int:
        return self._in

    def _room(self) -> bool:
        if self._in < self.size:
            return True
        return self._in < self.size + self.spare and self.headroom is not None and self.headroom()

    def _let_in(self) -> int:
        """One more in flight: IN, or SPARE on a spare slot."""
        self._in += 1
        return SPARE if self._in > self.size else IN

    def wake(self) -> None:
        """Let in those waiting, first come first, while there is room."""
        while self._line and self._room():
            waiter = self._line.popleft()
            if not waiter.done():  # else turned away or cancelled already
                waiter.set_result(self._let_in())

    async def _acquire(self, wait: float | None) -> int:
        """IN or SPARE once let in; OUT if still waiting after `wait` seconds."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._line.append(waiter)
        self.wake()  # headroom came back since the last slot was left free: there may be room already
        timer = loop.call_later(wait, _turn_away, waiter) if wait is not None else None
        try:
            slot = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result() != OUT:
                self.leave()  # let in just as the request was cancelled: the slot goes to the next
            else:
                self._forget(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if slot == OUT:
            self._forget(waiter)
        return slot

    def _forget(self, waiter: asyncio.Future[int]) -> None:
        with contextlib.suppress(ValueError):  # let in or popped meanwhile
            self._line.remove(waiter)

    async def enter(self, wait: float) -> bool:
        if not self._line and self._room():
            slot = self._let_in()
        else:
            started = time.monotonic()
            slot = await self._acquire(wait)
            if slot == OUT:
                self.figures.refused += 1
                return False
            self.figures.queued += 1
            self.figures.waited_seconds += time.monotonic() - started
        self.figures.admitted += 1
        self.figures.widened += slot == SPARE
        return True

    def leave(self) -> None:
        self._in -= 1
        self.wake()

    async def come_back(self) -> None:
        """A slot again for a request that gave its up to wait elsewhere: in line, however long the line."""
        if not self._line and self._room():
            self._let_in()
        else:
            await self._acquire(None)


def _headroom(loop_lag: LoopLag) -> Callable[[], bool]:
    """Room for a spare checkout: the loop's recent samples all within budget (none known: no room)."""

    def roomy() -> bool:
        lag = loop_lag.recent()
        return lag is not None and lag < LAG_BUDGET_SECONDS

    return roomy


def _turn_away(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_result(OUT)


class Lanes:
    """A process's admission lanes (None: that lane is not bounded), shared by the middleware and /metrics.
    `checkouts_with_headroom`: the checkouts a process works on at once while its loop keeps time (`loop_lag`)."""

    def __init__(
        self,
        *,
        checkouts: int,
        writes: int,
        wait: float,
        checkouts_with_headroom: int = 0,
        loop_lag: LoopLag | None = None,
    ) -> None:
        self.checkout: Lane | None = None
        if checkouts > 0:
            spare = max(0, checkouts_with_headroom - checkouts)
            if loop_lag is None or not spare:
                self.checkout = Lane("checkout", checkouts)
            else:
                self.checkout = Lane("checkout", checkouts, spare=spare, headroom=_headroom(loop_lag))
                loop_lag.listeners.append(self.checkout.wake)
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
