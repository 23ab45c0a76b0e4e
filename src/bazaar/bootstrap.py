"""Composition root: settings -> database, unit of work, and the adapters chosen for this deployment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bazaar.accounts.passwords import Passwords
from bazaar.accounts.sessions import SessionCache
from bazaar.adapters.cart_store import DatabaseOnlyCartStore, RedisCartStore
from bazaar.adapters.mail_transport import EmlDirectoryTransport, SmtpTransport
from bazaar.adapters.media_store import FilesystemMediaStore
from bazaar.adapters.memory_cache import MemoryCache
from bazaar.adapters.outbox_stream import OutboxEventStream
from bazaar.adapters.payment_client import HttpPaymentGateway
from bazaar.adapters.pg_statements import AsyncpgStatements
from bazaar.adapters.redis_cache import RedisCache
from bazaar.adapters.redis_stream import RedisEventStream
from bazaar.adapters.redis_waiting_room import RedisWaitingRoom
from bazaar.adapters.sandbox_payments import SandboxConfig, create_sandbox_app
from bazaar.adapters.sold_out import MemorySoldOutFlags, RedisSoldOutFlags
from bazaar.catalog.handlers import PAGE_TOPICS, invalidate_product_page
from bazaar.catalog.page_cache import ProductPages
from bazaar.checkout.saga import SagaDeps
from bazaar.db.consumers import PER_NODE, SHARED, BatchHandler, Handler, Scope, Subscription, consumer_name
from bazaar.db.engine import Database, create_database
from bazaar.db.nodes import LiveNodes
from bazaar.db.uow import UnitOfWork
from bazaar.flash_sales.calendar import SaleCalendar
from bazaar.flash_sales.db_room import DatabaseWaitingRoom
from bazaar.flash_sales.holds import SaleHoldLine
from bazaar.flash_sales.ports import WaitingRoom
from bazaar.flash_sales.queue import QueuePolicy
from bazaar.inventory.hold_times import HoldDurations, HoldPolicy
from bazaar.inventory.hot import HotReservations
from bazaar.inventory.limits import HoldLimits
from bazaar.kernel.ports import (
    Cache,
    CartStore,
    EventStream,
    MailTransport,
    MediaStore,
    PaymentGateway,
    PlainStatements,
    SoldOutFlags,
)
from bazaar.kernel.ratelimit import RateLimiter
from bazaar.mail.kinds import MailConfig
from bazaar.mail.sender import SendPolicy
from bazaar.payments.facade import PaymentsFacade
from bazaar.search import handlers as search_handlers
from bazaar.search.index import SearchIndex
from bazaar.search.indexer import Indexer, replica_ready
from bazaar.search.service import SearchService
from bazaar.settings import Settings

__all__ = ["PER_NODE", "SHARED", "Container", "Handler", "Subscription", "build_container", "build_event_stream"]


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
    stream_wakeup: asyncio.Event = field(default_factory=asyncio.Event)  # set when the relay published
    events: EventStream = field(init=False)  # set by build_container: it needs the container's uow()
    extras: dict[str, Any] = field(default_factory=dict)
    payment_sandbox: Any | None = None  # the in-process sandbox provider's ASGI app, when no provider URL is set
    sold_out: SoldOutFlags = field(default_factory=MemorySoldOutFlags)
    carts: CartStore = field(default_factory=DatabaseOnlyCartStore)
    sessions: SessionCache = field(default_factory=lambda: SessionCache(None))  # bearer tokens: Redis only
    plain_statements: PlainStatements | None = None  # PostgreSQL only: the hot paths' driver-level statements
    hot_reservations: HotReservations | None = None
    mail: MailTransport | None = None  # set by build_container: SMTP or .eml files
    media: MediaStore | None = None  # set by build_container: image files (the data dir's media folder)
    flash_calendar: SaleCalendar = field(init=False)  # set by build_container: it needs read_uow()
    waiting_room: WaitingRoom = field(init=False)  # Redis when configured, else the database
    hold_durations: HoldDurations = field(init=False)  # each new hold's TTL, from measured times to purchase
    sale_hold_line: SaleHoldLine = field(default_factory=SaleHoldLine)  # flash holds per sale at the database at once

    @property
    def queue_policy(self) -> QueuePolicy:
        s = self.settings
        return QueuePolicy(
            secret=s.secret_key,
            admission_window=timedelta(seconds=s.flash_admission_window_seconds),
            idle_timeout=timedelta(seconds=s.flash_queue_idle_seconds),
            hold_seconds=s.flash_hold_ttl_seconds,
        )

    @property
    def hold_limits(self) -> HoldLimits:
        return HoldLimits.from_settings(self.settings)

    @property
    def mail_config(self) -> MailConfig:
        s = self.settings
        return MailConfig(public_url=s.public_url.rstrip("/"), sender=s.mail_from, secret_key=s.secret_key)

    @property
    def mail_policy(self) -> SendPolicy:
        s = self.settings
        return SendPolicy(
            sender=s.mail_from,
            batch=s.mail_batch_size,
            retry_base_seconds=s.mail_retry_base_seconds,
            retry_max_seconds=s.mail_retry_max_seconds,
            give_up_after=timedelta(hours=s.mail_give_up_hours),
        )

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db.sessionmaker, on_events_committed=self.outbox_wakeup.set, dialect=self.db.dialect)

    def read_uow(self) -> UnitOfWork:
        """A unit of work for queries; on SQLite its transactions never take the write lock."""
        return UnitOfWork(self.db.read_sessionmaker, dialect=self.db.dialect, reads_only=True)

    def replica_uow(self) -> UnitOfWork:
        """A unit of work for reads that tolerate lag (cache fills, order history, seller lists, search
        rebuilds): on a fresh read replica when there is one, else as read_uow (see bazaar.db.replicas)."""
        if self.db.replicas is None:
            return self.read_uow()
        return UnitOfWork(
            self.db.read_sessionmaker, dialect=self.db.dialect, route=self.db.replicas.sessionmaker, reads_only=True
        )

    def payments_facade(self) -> PaymentsFacade:
        """Payments as checkout and orders use them (they also implement the saga's and orders' ports)."""
        return PaymentsFacade(uow_factory=self.uow, gateway=self.payments)

    def order_payments(self) -> PaymentsFacade:
        return self.payments_facade()

    def saga_deps(self, *, crash_after: set[str] | None = None) -> SagaDeps:
        s = self.settings
        return SagaDeps(
            uow_factory=self.uow,
            payments=self.payments_facade(),
            reservation_ttl=timedelta(seconds=s.reservation_ttl_seconds),
            hold_ttl=self.hold_durations.ttl,
            deadline=timedelta(seconds=s.checkout_deadline_seconds),
            capture_delay=timedelta(seconds=s.capture_delay_seconds),
            carts=self.carts,
            sold_out=self.sold_out,
            hold_limits=self.hold_limits,
            crash_after=crash_after or set(),
        )

    @property
    def node_id(self) -> str:
        return self.settings.resolved_node_id

    def subscribe(
        self,
        consumer: str,
        topics: tuple[str, ...],
        handler: Handler,
        *,
        scope: Scope,
        batch_handler: BatchHandler | None = None,
        serial: bool = False,
    ) -> None:
        """Register an event consumer: `handler(uow, event)` runs once per event whose topic matches
        (exact, or a prefix ending in "."), in a unit of work that commits with the inbox row.
        `batch_handler(uow, events)`, if given, does the same for several events at once.

        `scope` says who handles an event: SHARED, one handler in the whole cluster (notifications, figures,
        email); PER_NODE, every node (its search replica, caches held in its processes). `serial`: this
        consumer's batches never run at once (see db.consumers.Subscription)."""
        if any(s.name == consumer for s in self.subscriptions):
            raise ValueError(f"consumer {consumer!r} is already subscribed")
        full_name = consumer_name(consumer, scope, self.node_id)
        self.subscriptions.append(
            Subscription(full_name, topics, handler, batch_handler, scope=scope, name=consumer, serial=serial)
        )

    async def close(self) -> None:
        await self.events.close()
        for closer in self.extras.get("closers", []):
            closer()
        await self.cache.close()
        await self.payments.close()
        if self.payment_sandbox is not None:
            self.payment_sandbox.state.ledger.close()
        await self.sold_out.close()
        await self.waiting_room.close()
        await self.carts.close()
        if self.mail is not None:
            await self.mail.close()
        if self.plain_statements is not None:
            await self.plain_statements.close()
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
        limiter=RateLimiter(
            cache, enabled=settings.rate_limits_enabled, fallback=MemoryCache() if settings.redis_url else None
        ),
        passwords=Passwords(settings.password_hash_profile),
        payments=payments,
        payment_sandbox=sandbox,
    )
    container.events = build_event_stream(settings, container)
    container.mail = build_mail_transport(settings)
    container.media = FilesystemMediaStore(settings.resolved_media_dir)
    container.flash_calendar = SaleCalendar(container.read_uow)
    container.hold_durations = HoldDurations(
        container.read_uow,
        HoldPolicy(
            floor=min(settings.reservation_ttl_min_seconds, settings.reservation_ttl_seconds),
            ceiling=settings.reservation_ttl_seconds,
            adaptive=settings.reservation_ttl_adaptive,
        ),
    )
    container.waiting_room = DatabaseWaitingRoom(container.uow)
    if settings.redis_url:
        from bazaar.adapters.redis_client import redis_client

        client = redis_client(settings.redis_url)
        container.sold_out = RedisSoldOutFlags(client, prefix=settings.redis_prefix)
        carts_client = redis_client(settings.redis_url)
        container.carts = RedisCartStore(carts_client, prefix=settings.redis_prefix)
        container.sessions = SessionCache(cache)
        room_client = redis_client(settings.redis_url)
        container.waiting_room = RedisWaitingRoom(room_client, prefix=settings.redis_prefix)
    if container.db.dialect == "postgresql":
        container.plain_statements = AsyncpgStatements(settings.resolved_database_url)
        container.hot_reservations = HotReservations(
            container.plain_statements,
            sold_out=container.sold_out,
            on_events=container.outbox_wakeup.set,
            ttl=timedelta(seconds=settings.reservation_ttl_seconds),
            ttl_for=container.hold_durations.ttl,
            limits=HoldLimits.from_settings(settings),
        )
    shared_cache = settings.redis_url is not None
    container.extras["product_pages"] = ProductPages(
        cache, container.replica_uow, shared=shared_cache, background_refreshes=settings.db_read_pool_size
    )
    index = SearchIndex(settings.data_dir / "search")
    container.extras["search_index"] = index
    container.extras["search"] = SearchService(index, cache, shared=shared_cache, node_id=container.node_id)
    indexer = Indexer(index, container.read_uow, rebuild_uow=container.replica_uow)
    container.extras["search_indexer"] = indexer
    container.extras.setdefault("closers", []).append(indexer.close)

    async def search_replica() -> bool:
        return replica_ready(index, node_started_at=settings.node_started_at)

    container.extras.setdefault("readiness", {})["search"] = search_replica
    register_consumers(container)
    return container


def build_payment_gateway(settings: Settings) -> tuple[PaymentGateway, Any | None]:
    """The payment client, pointed at BAZAAR_PAYMENT_PROVIDER_URL or at the built-in sandbox in this process."""
    if settings.payment_provider_url:
        return HttpPaymentGateway.from_settings(settings), None
    sandbox = create_sandbox_app(SandboxConfig.from_settings(settings))
    return HttpPaymentGateway.from_settings(settings, sandbox_app=sandbox), sandbox


def build_mail_transport(settings: Settings) -> MailTransport:
    """SMTP when BAZAAR_SMTP_URL is set, else .eml files under <data dir>/mail/ (nothing to install)."""
    if settings.smtp_url:
        import ssl

        context = ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else None
        return SmtpTransport(settings.smtp_url, timeout=settings.smtp_timeout_seconds, tls_context=context)
    return EmlDirectoryTransport(settings.mail_dir)


def build_event_stream(settings: Settings, container: Container) -> EventStream:
    """Redis Streams when Redis is configured, else the outbox table delivered in-process."""
    live_nodes = LiveNodes(
        container.read_uow,
        node_id=container.node_id,
        dead_after=timedelta(seconds=settings.node_dead_after_seconds),
    )
    container.extras["live_nodes"] = live_nodes
    common: dict[str, Any] = {
        "uow_factory": container.uow,
        "subscriptions": container.subscriptions,
        "live_nodes": live_nodes,
        "max_deliveries": settings.event_max_deliveries,
        "retry_base_seconds": settings.event_retry_base_seconds,
        "retry_max_seconds": settings.event_retry_max_seconds,
        "batch_size": settings.event_batch_size,
    }
    if settings.redis_url:
        return RedisEventStream(
            settings.redis_url,
            prefix=settings.redis_prefix,
            partitions=settings.event_partitions,
            lease_seconds=settings.event_lease_seconds,
            stream_maxlen=settings.event_stream_maxlen,
            republish_grace_seconds=settings.event_republish_grace_seconds,
            **common,
        )
    return OutboxEventStream(**common)


def register_consumers(container: Container) -> None:
    """Every event consumer of the application, wired here so workers and tests share one list."""
    from bazaar.flash_sales import holds as flash_holds
    from bazaar.inventory.handlers import clear_sold_out_on_restock
    from bazaar.mail import handlers as mail_handlers
    from bazaar.mail.kinds import TOPICS as MAIL_TOPICS
    from bazaar.notifications import handlers as notification_handlers
    from bazaar.notifications import marketplace as notification_marketplace
    from bazaar.wishlists import handlers as wishlist_handlers

    # Flags and product pages live in Redis when it is configured (one copy for the cluster: one handler
    # suffices); otherwise in each process, and every node must hear of every change.
    local = SHARED if container.settings.redis_url else PER_NODE
    container.subscribe(
        "inventory-sold-out-flags",
        ("inventory.stock_changed.v1",),
        clear_sold_out_on_restock(container.sold_out),
        scope=local,
    )
    container.subscribe(
        "notifications",
        (
            "orders.order_placed.v1",
            "orders.order_status_changed.v1",
            "orders.return_received.v1",
            "orders.return_requested.v1",
            "shipping.shipment_created.v1",
            "wishlists.product_alert.v1",
            *notification_marketplace.HANDLERS,
        ),
        notification_handlers.handle_notifications,
        batch_handler=notification_handlers.handle_notifications_batch,
        scope=SHARED,
    )
    # Shared subscriptions (one handler in the cluster): alerts decided once per change, emails queued once.
    alerts, alerts_batch = wishlist_handlers.watch_products(
        timedelta(seconds=container.settings.alert_cooldown_seconds)
    )
    container.subscribe("wishlist-alerts", wishlist_handlers.TOPICS, alerts, batch_handler=alerts_batch, scope=SHARED)
    container.subscribe(
        "mail",
        MAIL_TOPICS,
        mail_handlers.queue_emails(container.mail_config),
        batch_handler=mail_handlers.queue_emails_batch(container.mail_config),
        scope=SHARED,
    )
    container.subscribe(
        "seller-stats",
        ("orders.order_placed.v1", "orders.order_status_changed.v1", *notification_handlers.RESERVATION_TOPICS),
        notification_handlers.handle_seller_stats,
        batch_handler=notification_handlers.handle_seller_stats_batch,
        scope=SHARED,
        serial=True,  # per-seller counters, updated in event order: partitions' batches would deadlock
    )
    # Shared: a sale hold that sold, or came back, is counted once in the cluster.
    container.subscribe("flash-sale-holds", flash_holds.TOPICS, flash_holds.settle_hold, scope=SHARED)
    from bazaar.admin import handlers as admin_handlers
    from bazaar.ledger import handlers as ledger_handlers

    container.subscribe(
        "ledger",
        ledger_handlers.TOPICS,
        ledger_handlers.post_ledger(timedelta(days=container.settings.payout_hold_days)),
        scope=SHARED,
        serial=True,  # sellers' balances, updated in event order: partitions' batches would deadlock
    )
    container.subscribe("admin-goodwill", admin_handlers.TOPICS, admin_handlers.settle_goodwill, scope=SHARED)
    pages: ProductPages = container.extras["product_pages"]
    from bazaar.reviews import handlers as review_handlers

    container.subscribe("product-ratings", review_handlers.TOPICS, review_handlers.update_product_rating, scope=SHARED)
    from bazaar.promotions import handlers as promotion_handlers

    container.subscribe(
        "voucher-uses",
        promotion_handlers.TOPICS,
        promotion_handlers.give_back_cancelled_uses,
        scope=SHARED,
        serial=True,  # vouchers' use counts, shared by orders of every partition: batches would deadlock
    )
    from bazaar.recommendations import handlers as recommendation_handlers

    container.subscribe(
        "co-purchases",
        recommendation_handlers.TOPICS,
        recommendation_handlers.count_co_purchases,
        batch_handler=recommendation_handlers.count_co_purchases_batch,  # pairs in one order across the batch
        scope=SHARED,
    )
    container.subscribe("catalog-page-cache", PAGE_TOPICS, invalidate_product_page(pages), scope=local)
    # Every node keeps a search replica of its own in its data dir, fed with every catalog and stock event.
    indexer: Indexer = container.extras["search_indexer"]
    container.subscribe(
        "search-indexer", search_handlers.TOPICS, search_handlers.mark_for_indexing(indexer), scope=PER_NODE
    )
