"""Promotion event consumers: a cancelled order gives its voucher uses back (a shared subscription)."""

from __future__ import annotations

from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.promotions import service

TOPICS = ("orders.order_status_changed.v1",)


async def give_back_cancelled_uses(uow: UnitOfWork, event: dict[str, Any]) -> None:
    if event["payload"].get("status") == "cancelled":
        await service.release_order(uow=uow, order_id=event["key"])
