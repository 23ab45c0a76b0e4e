"""Recommendation consumers: placed orders add co-purchases, cancelled ones take them back (shared subscription)."""

from __future__ import annotations

from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.recommendations import service

TOPICS = ("orders.order_placed.v1", "orders.order_status_changed.v1")


async def count_co_purchases_batch(uow: UnitOfWork, events: list[dict[str, Any]]) -> None:
    """Placed orders count their pairs up, cancelled ones down: the whole batch in one pass (see count_orders)."""
    placed: list[tuple[str, str | None]] = []
    cancelled: list[tuple[str, str | None]] = []
    for event in events:
        key = (event["key"], event["payload"].get("user_id"))
        if event["topic"] == "orders.order_placed.v1":
            placed.append(key)
        elif event["payload"].get("status") == "cancelled":
            cancelled.append(key)
    if placed or cancelled:
        await service.count_orders(uow=uow, placed=placed, cancelled=cancelled)


async def count_co_purchases(uow: UnitOfWork, event: dict[str, Any]) -> None:
    await count_co_purchases_batch(uow, [event])
