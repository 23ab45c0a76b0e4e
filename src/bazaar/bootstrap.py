"""Composition root: settings -> database, unit of work, and the adapters chosen for this deployment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bazaar.accounts.passwords import Passwords
from bazaar.adapters.cart_store import DatabaseOnlyCartStore, RedisCartStore
from bazaar.adapters.memory_cache import MemoryCache
from bazaar.adapters.redis_cache import RedisCache
from bazaar.adapters.sold_out import MemorySoldOutFlags, RedisSoldOutFlags
from bazaar.db.engine import Database, create_database
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.ports import Cache, CartStore, SoldOutFlags
from bazaar.kernel.ratelimit import RateLimiter
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
    sold_out: SoldOutFlags = field(default_factory=MemorySoldOutFlags)
    carts: CartStore = field(default_factory=DatabaseOnlyCartStore)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db.sessionmaker, on_events_committed=self.outbox_wakeup.set, dialect=self.db.dialect)

    def read_uow(self) -> UnitOfWork:
        """A unit of work for queries; on SQLite its transactions never take the write lock."""
        return UnitOfWork(self.db.read_sessionmaker, dialect=self.db.dialect)

    def subscribe(self, consumer: str, topics: tuple[str, ...], handler: Handler) -> None:
        self.subscriptions.append(Subscription(consumer, topics, handler))

    async def close(self) -> None:
        await self.cache.close()
        await self.sold_out.close()
        await self.carts.close()
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
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        container.sold_out = RedisSoldOutFlags(client, prefix=settings.redis_prefix)
        carts_client = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        container.carts = RedisCartStore(carts_client, prefix=settings.redis_prefix)
    register_consumers(container)
    return container


def register_consumers(container: Container) -> None:
    """Every event consumer of the application, wired here so workers and tests share one list."""
    from bazaar.inventory.handlers import clear_sold_out_on_restock

    container.subscribe(
        "inventory-sold-out-flags", ("inventory.stock_changed.v1",), clear_sold_out_on_restock(container.sold_out)
    )
