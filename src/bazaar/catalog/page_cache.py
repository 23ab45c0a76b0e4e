"""Product pages served from a cache: serialised once, refreshed ahead of expiry, busted by catalog events."""

from __future__ import annotations

from collections.abc import Callable

from bazaar.catalog import queries
from bazaar.catalog.errors import ProductNotFound
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.caching import CachedBytes, RefreshingCache
from bazaar.kernel.ports import Cache

# Availability on a page may be this many seconds old at most (events usually bust it sooner).
PAGE_TTL_SECONDS = 5.0
REFRESH_AHEAD_SECONDS = 1.5
MAX_ID_LENGTH = 32


def page_key(product_id: str) -> str:
    return f"product-page:v1:{product_id}"


class ProductPages:
    def __init__(
        self, cache: Cache, read_uow: Callable[[], UnitOfWork], *, shared: bool, background_refreshes: int = 4
    ) -> None:
        # Refreshes ahead of expiry at once: no more than the read pool keeps connections (see RefreshingCache).
        self.cache = RefreshingCache(
            cache,
            ttl=PAGE_TTL_SECONDS,
            refresh_ahead=REFRESH_AHEAD_SECONDS,
            shared=shared,
            background_refreshes=background_refreshes,
        )
        self._read_uow = read_uow

    async def get(self, product_id: str) -> CachedBytes:
        """The product page as JSON bytes with its ETag; ProductNotFound if there is no such product."""
        if not product_id or len(product_id) > MAX_ID_LENGTH:
            raise ProductNotFound(product_id=product_id[:MAX_ID_LENGTH])

        async def load() -> bytes:
            async with self._read_uow() as uow:
                page = await queries.product_page(uow=uow, product_id=product_id)
            return page.model_dump_json().encode()

        return await self.cache.get_or_load(page_key(product_id), load)

    async def invalidate(self, product_id: str) -> None:
        await self.cache.invalidate(page_key(product_id))
