"""Catalog event consumers: bust a product's cached page when the product, its offers or its stock change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bazaar.catalog.page_cache import ProductPages
from bazaar.db.uow import UnitOfWork

PAGE_TOPICS = ("catalog.", "inventory.stock_changed.v1")


def invalidate_product_page(pages: ProductPages) -> Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]:
    async def handle(uow: UnitOfWork, event: dict[str, Any]) -> None:
        # Every topic here is keyed by product id; deleting a key twice is harmless.
        await pages.invalidate(event["key"])

    return handle
