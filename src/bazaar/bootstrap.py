"""Composition root: settings -> database, unit of work, and the adapters chosen for this deployment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bazaar.accounts.passwords import Passwords
from bazaar.adapters.memory_cache import MemoryCache
from bazaar.adapters.payment_client import HttpPaymentGateway
from bazaar.adapters.redis_cache import RedisCache
from bazaar.adapters.sandbox_payments import SandboxConfig, create_sandbox_app
from bazaar.db.engine import Database, create_database
from bazaar.db.uow import UnitOfWork
from bazaar.kernel.ports import Cache, PaymentGateway
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
    payments: PaymentGateway
    subscriptions: list[Subscription] = field(default_factory=list)
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    extras: dict[str, Any] = field(default_factory=dict)
    payment_sandbox: Any | None = None  # the in-process sandbox provider's ASGI app, when no provider URL is set

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db.sessionmaker, on_events_committed=self.outbox_wakeup.set, dialect=self.db.dialect)

    def read_uow(self) -> UnitOfWork:
        """A unit of work for queries; on SQLite its transactions never take the write lock."""
        return UnitOfWork(self.db.read_sessionmaker, dialect=self.db.dialect)

    def subscribe(self, consumer: str, topics: tuple[str, ...], handler: Handler) -> None:
        self.subscriptions.append(Subscription(consumer, topics, handler))

    async def close(self) -> None:
        await self.cache.close()
        await self.payments.close()
        if self.payment_sandbox is not None:
            self.payment_sandbox.state.ledger.close()
        await self.db.dispose()


def build_container(settings: Settings) -> Container:
    settings.check_production_safety()
    cache: Cache
    if settings.redis_url:
        cache = RedisCache(settings.redis_url, prefix=settings.redis_prefix)
    else:
        cache = MemoryCache()
    payments, sandbox = build_payment_gateway(settings)
    container = Container(
        settings=settings,
        db=create_database(settings),
        cache=cache,
        limiter=RateLimiter(cache, enabled=settings.rate_limits_enabled),
        passwords=Passwords(settings.password_hash_profile),
        payments=payments,
        payment_sandbox=sandbox,
    )
    register_consumers(container)
    return container


def build_payment_gateway(settings: Settings) -> tuple[PaymentGateway, Any | None]:
    """The payment client, pointed at BAZAAR_PAYMENT_PROVIDER_URL or at the built-in sandbox in this process."""
    if settings.payment_provider_url:
        return HttpPaymentGateway.from_settings(settings), None
    sandbox = create_sandbox_app(SandboxConfig.from_settings(settings))
    return HttpPaymentGateway.from_settings(settings, sandbox_app=sandbox), sandbox


def register_consumers(container: Container) -> None:
    """Every event consumer of the application, wired here so workers and tests share one list."""
