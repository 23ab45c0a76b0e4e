"""Wish list event consumer: stock and catalog events make the alerts look at the products they name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.wishlists.alerts import alert_watchers

# Every one of these is keyed by product id and carries `product_id`.
TOPICS = ("inventory.stock_changed.v1", "catalog.offer_created.v1", "catalog.offer_updated.v1")
Event = dict[str, Any]


def watch_products(
    cooldown: timedelta,
) -> tuple[Callable[[UnitOfWork, Event], Awaitable[None]], Callable[[UnitOfWork, list[Event]], Awaitable[None]]]:
    """The handler and its batch form: a batch of events about the same products is one look at each."""

    async def handle(uow: UnitOfWork, event: Event) -> None:
        await alert_watchers(uow=uow, product_ids={event["payload"]["product_id"]}, cooldown=cooldown)

    async def handle_batch(uow: UnitOfWork, events: list[Event]) -> None:
        ids = {e["payload"]["product_id"] for e in events if e["payload"].get("product_id")}
        await alert_watchers(uow=uow, product_ids=ids, cooldown=cooldown)

    return handle, handle_batch
