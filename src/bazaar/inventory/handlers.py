"""Inventory event consumers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.inventory.allocation import totals
from bazaar.kernel.ports import SoldOutFlags


def clear_sold_out_on_restock(flags: SoldOutFlags) -> Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]:
    """Stock set above zero anywhere (a seller's edit, a return) lifts the offer's sold-out flag.

    The stock is read again rather than taken from the event: an event written while another
    transaction was taking the last units can report units that are gone by the time it is read.
    """

    async def handle(uow: UnitOfWork, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if int(payload.get("available", 0)) <= 0:
            return
        offer_id = payload["offer_id"]
        _, available = (await totals(uow, [offer_id])).get(offer_id, (0, 0))
        if available > 0:
            await flags.clear(offer_id)

    return handle
