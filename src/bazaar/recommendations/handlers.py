"""Recommendation consumers: placed orders add co-purchases, cancelled ones take them back (shared subscription)."""

from __future__ import annotations

from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.recommendations import service

TOPICS = ("orders.order_placed.v1", "orders.order_status_changed.v1")


async def count_co_purchases(uow: UnitOfWork, event: dict[str, Any]) -> None:
    if event["topic"] == "orders.order_placed.v1":
        await service.record_order(uow=uow, order_id=event["key"], buyer_id=event["payload"].get("user_id"))
    elif event["payload"].get("status") == "cancelled":
        await service.forget_order(uow=uow, order_id=event["key"], buyer_id=event["payload"].get("user_id"))
