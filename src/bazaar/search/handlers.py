"""Search event consumers: a catalog or stock change marks the product for the indexer's next batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bazaar.db.uow import UnitOfWork
from bazaar.search.indexer import Indexer

TOPICS = ("catalog.", "inventory.stock_changed.v1")


def mark_for_indexing(indexer: Indexer) -> Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]:
    async def handle(uow: UnitOfWork, event: dict[str, Any]) -> None:
        indexer.mark(event["key"])  # every topic here is keyed by product id

    return handle
