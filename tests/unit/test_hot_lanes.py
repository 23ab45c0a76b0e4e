"""The batched hold path's lanes (inventory/hot.py): a hold asked for at any moment is placed, never left waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bazaar.inventory.hot import HotReservations


class GatedStatements:
    """Every statement waits for the gate, then finds nothing to place (the hold goes to the general path)."""

    def __init__(self) -> None:
        self.gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fetch(self, query: str, *args: Any) -> list[Mapping[str, Any]]:
        await self.gate
        return []


async def test_a_hold_asked_for_as_both_lanes_finish_is_still_answered() -> None:
    statements = GatedStatements()
    hot = HotReservations(statements)  # type: ignore[arg-type]
    answered: list[str] = []

    async def buyer(name: str, then: str | None = None) -> None:
        await hot.hold(offer_id=name, quantity=1, user_id=None)
        answered.append(name)
        if then is not None:  # the next hold, at once: no await between the answer and the ask
            await hot.hold(offer_id=then, quantity=1, user_id=None)
            answered.append(then)

    first = asyncio.create_task(buyer("a", then="c"))
    await asyncio.sleep(0)  # lane one takes [a] and waits on its statement
    await asyncio.sleep(0)
    second = asyncio.create_task(buyer("b"))
    await asyncio.sleep(0)  # lane two takes [b] and waits too
    await asyncio.sleep(0)
    statements.gate.set_result(None)  # both statements answer in the same turn of the loop: both lanes finish
    await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
    assert sorted(answered) == ["a", "b", "c"]
