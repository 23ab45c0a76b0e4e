"""Engine factory: SQLite in WAL mode with a busy timeout, or a pooled PostgreSQL engine.

SQLite write transactions start with BEGIN IMMEDIATE so two writers queue on the busy
timeout instead of failing when one upgrades a read lock; reads use a second engine
whose transactions start deferred and never block writers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from bazaar.db.replicas import ReplicaRouter
from bazaar.kernel.metrics import DOMAIN_REGISTRY
from bazaar.settings import Settings


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


TRANSACTIONS = Counter(
    "bazaar_db_transactions",
    "Database transactions this process began: a unit of work's, or a pooled connection's liveness ping (a unit of"
    " work that ran only statements each on its own, a cart add on PostgreSQL, counts one though it sent no BEGIN)",
    ["kind"],
    registry=DOMAIN_REGISTRY,
)


def _count_transactions(engine: AsyncEngine) -> None:
    begun = TRANSACTIONS.labels(kind="unit_of_work")

    @event.listens_for(engine.sync_engine, "begin")
    def _began(_conn: Any) -> None:
        begun.inc()


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection is alive before use only if it sat idle longer than `idle_seconds`.

    `pool_pre_ping` pings on every checkout: with asyncpg a BEGIN, a `;` and a ROLLBACK, a round trip and a
    transaction per unit of work (a dozen per checkout). A connection handed back moments ago was alive then; one
    idle for longer (the database may have restarted meanwhile) is pinged, and if dead, replaced before use. A
    connection that dies while in use raises a disconnect error, and SQLAlchemy then recycles the whole pool.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        TRANSACTIONS.labels(kind="ping").inc()
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards this connection and checks out another
            raise DisconnectionError("a pooled connection was dead") from exc


@dataclass
class Database:
    engine: AsyncEngine
    read_engine: AsyncEngine
    sessionmaker: async_sessionmaker[Any]
    read_sessionmaker: async_sessionmaker[Any]
    dialect: str
    replicas: ReplicaRouter | None = None  # PostgreSQL read replicas, when configured

    async def warm(self, connections: int) -> None:
        """Open up to `connections` connections in each PostgreSQL pool (never past its size) and hand them back.

        A pool makes its connections on demand, and the engine's first one also runs the dialect's start-up queries:
        about 10 ms each, and a burst of requests on a fresh process pays them all at once. SQLite: nothing to do.
        """
        if self.dialect != "postgresql" or connections <= 0:
            return
        for engine in {id(e): e for e in (self.engine, self.read_engine)}.values():
            size = engine.sync_engine.pool.size()  # type: ignore[attr-defined]
            count = min(connections, size)
            held = [await engine.connect() for _ in range(count)]
            for conn in held:
                await conn.close()

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.dispose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _postgres_engine(url: str, settings: Settings, *, reads: bool = False) -> AsyncEngine:
    # LIFO: the connections in use stay few and warm, and only those left idle pay the liveness ping.
    size, overflow = (
        (settings.db_read_pool_size, settings.db_read_max_overflow)
        if reads
        else (settings.db_pool_size, settings.db_max_overflow)
    )
    engine = create_async_engine(url, pool_size=size, max_overflow=overflow, pool_use_lifo=True)
    _ping_when_idle(engine, settings.db_ping_after_idle_seconds)
    return engine


def create_database(settings: Settings) -> Database:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = _sqlite_engine(url, immediate=True)
        read_engine = _sqlite_engine(url, immediate=False)
        dialect = "sqlite"
    else:
        engine = _postgres_engine(url, settings)
        _count_transactions(engine)
        read_engine = _postgres_engine(url, settings, reads=True)  # its own pool: reads never queue behind writes
        dialect = "postgresql"
    read_sessionmaker = async_sessionmaker(read_engine, expire_on_commit=False)
    replicas = None
    if dialect == "postgresql" and settings.replica_urls:
        replicas = ReplicaRouter.from_urls(
            read_engine,
            read_sessionmaker,
            settings.replica_urls,
            make_engine=lambda replica_url: _postgres_engine(replica_url, settings, reads=True),
            check_seconds=settings.replica_check_seconds,
        )
    return Database(
        engine=engine,
        read_engine=read_engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
        read_sessionmaker=read_sessionmaker,
        dialect=dialect,
        replicas=replicas,
    )
