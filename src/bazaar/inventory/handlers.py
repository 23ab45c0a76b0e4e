"""Inventory event consumers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.kernel.ports import SoldOutFlags


def clear_sold_out_on_restock(flags: SoldOutFlags) -> Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]:
    """Stock set above zero anywhere (a seller's edit, a return) lifts the offer's sold-out flag."""

    async def handle(uow: UnitOfWork, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if int(payload.get("available", 0)) > 0:
            await flags.clear(payload["offer_id"])

    return handle
