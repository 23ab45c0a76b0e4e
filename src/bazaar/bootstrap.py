"""Composition root: settings -> database, unit of work, and the adapters chosen for this deployment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bazaar.accounts.passwords import Passwords
from bazaar.adapters.memory_cache import MemoryCache
from bazaar.adapters.redis_cache import RedisCache
from bazaar.catalog.handlers import PAGE_TOPICS, invalidate_product_page
from bazaar.catalog.page_cache import ProductPages
from bazaar.db.engine import Database, create_database
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.ports import Cache
from bazaar.kernel.ratelimit import RateLimiter
from bazaar.search import handlers as search_handlers
from bazaar.search.index import SearchIndex
from bazaar.search.indexer import Indexer
from bazaar.search.service import SearchService
from bazaar.settings import Settings

Handler = Callable[[UnitOfWork, dict[str, Any]], Awaitable[None]]


@dataclass
class Subscription:
    consumer: str
    topics: tuple[str, ...]  # exact topics or prefixes ending in "."
    handler: Handler

    def wants(self, topic: str) -> bool:
        return any(topic == t or (t.endswith(".") and topic.startswith(t)) for t in self.topics)


@dataclass
class Container:
    settings: Settings
    db: Database
    cache: Cache
    limiter: RateLimiter
    passwords: Passwords
    subscriptions: list[Subscription] = field(default_factory=list)
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    extras: dict[str, Any] = field(default_factory=dict)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db.sessionmaker, on_events_committed=self.outbox_wakeup.set, dialect=self.db.dialect)

    def read_uow(self) -> UnitOfWork:
        """A unit of work for queries; on SQLite its transactions never take the write lock."""
        return UnitOfWork(self.db.read_sessionmaker, dialect=self.db.dialect)

    def subscribe(self, consumer: str, topics: tuple[str, ...], handler: Handler) -> None:
        self.subscriptions.append(Subscription(consumer, topics, handler))

    async def close(self) -> None:
        for closer in self.extras.get("closers", []):
            closer()
        await self.cache.close()
        await self.db.dispose()


def build_container(settings: Settings) -> Container:
    settings.check_production_safety()
    cache: Cache
    if settings.redis_url:
        cache = RedisCache(settings.redis_url, prefix=settings.redis_prefix)
    else:
        cache = MemoryCache()
    container = Container(
        settings=settings,
        db=create_database(settings),
        cache=cache,
        limiter=RateLimiter(cache, enabled=settings.rate_limits_enabled),
        passwords=Passwords(settings.password_hash_profile),
    )
    shared_cache = settings.redis_url is not None
    container.extras["product_pages"] = ProductPages(cache, container.read_uow, shared=shared_cache)
    index = SearchIndex(settings.data_dir / "search")
    container.extras["search_index"] = index
    container.extras["search"] = SearchService(index, cache, shared=shared_cache)
    indexer = Indexer(index, container.read_uow)
    container.extras["search_indexer"] = indexer
    container.extras.setdefault("closers", []).append(indexer.close)
    container.extras.setdefault("readiness", {})["search"] = index.ping
    register_consumers(container)
    return container


def register_consumers(container: Container) -> None:
    """Every event consumer of the application, wired here so workers and tests share one list."""
    pages: ProductPages = container.extras["product_pages"]
    container.subscribe("catalog-page-cache", PAGE_TOPICS, invalidate_product_page(pages))
    indexer: Indexer = container.extras["search_indexer"]
    container.subscribe("search-indexer", search_handlers.TOPICS, search_handlers.mark_for_indexing(indexer))
