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
    """A place held in a bounded line of work: given up while waiting elsewhere, taken again afterwards."""

    def give_up(self) -> None: ...

    async def take_again(self) -> None: ...


_held: ContextVar[Place | None] = ContextVar("bazaar_place_held", default=None)


def holding(place: Place) -> Token[Place | None]:
    """The current task (and the tasks it starts) holds `place` until `reset(token)`."""
    return _held.set(place)


def reset(token: Token[Place | None]) -> None:
    _held.reset(token)


@asynccontextmanager
async def waiting_elsewhere() -> AsyncIterator[None]:
    """The place this work holds is given up for the block (a call that waits on another service), and taken
    again, waiting in line if need be, before the work goes on."""
    place = _held.get()
    if place is None:
        yield
        return
    place.give_up()
    try:
        yield
    finally:
        await place.take_again()
