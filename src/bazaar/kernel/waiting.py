"""Waiting on another service (the payment provider) without holding a place meant for work in progress.

Whoever bounds the work a process does at once (the web process's admission lanes, web/admission.py) says how
to step aside while a call waits on the network and how to come back after it; code that makes such a call wraps
it in `waiting_elsewhere()`. Where nothing bounds the work (a worker, a test), it does nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from typing import Protocol


class Place(Protocol):
    """A place held in a bounded line of work: given up while waiting elsewhere, taken again afterwards. Both do
    nothing when called from another task than the one that holds the place (a task it started)."""

    def give_up(self) -> None: ...

    async def take_again(self) -> None: ...


_held: ContextVar[Place | None] = ContextVar("bazaar_place_held", default=None)
_waiting: ContextVar[bool] = ContextVar("bazaar_waiting_elsewhere", default=False)


def holding(place: Place) -> Token[Place | None]:
    """The current task holds `place` until `reset(token)`."""
    return _held.set(place)


def reset(token: Token[Place | None]) -> None:
    _held.reset(token)


@asynccontextmanager
async def waiting_elsewhere() -> AsyncIterator[None]:
    """The place this work holds is given up for the block (a call that waits on another service), and taken
    again, waiting in line if need be, before the work goes on. A block inside another changes nothing; work
    cancelled meanwhile (the client gone, the server stopping) does not queue for a place it would not use."""
    place = _held.get()
    if place is None or _waiting.get():
        yield
        return
    place.give_up()
    inside = _waiting.set(True)
    try:
        yield
    except Exception:
        _waiting.reset(inside)
        await place.take_again()  # the work goes on, handling what went wrong
        raise
    except BaseException:  # cancelled: it does not go on
        _waiting.reset(inside)
        raise
    _waiting.reset(inside)
    await place.take_again()
