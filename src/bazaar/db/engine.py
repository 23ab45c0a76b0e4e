"""Engine factory: SQLite in WAL mode with a busy timeout, or a pooled PostgreSQL engine.

SQLite write transactions start with BEGIN IMMEDIATE so two writers queue on the busy
timeout instead of failing when one upgrades a read lock; reads use a second engine
whose transactions start deferred and never block writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from bazaar.db.replicas import ReplicaRouter
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


@dataclass
class Database:
    engine: AsyncEngine
    read_engine: AsyncEngine
    sessionmaker: async_sessionmaker[Any]
    read_sessionmaker: async_sessionmaker[Any]
    dialect: str
    replicas: ReplicaRouter | None = None  # PostgreSQL read replicas, when configured

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.dispose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def create_database(settings: Settings) -> Database:
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = _sqlite_engine(url, immediate=True)
        read_engine = _sqlite_engine(url, immediate=False)
        dialect = "sqlite"
    else:
        engine = create_async_engine(
            url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow, pool_pre_ping=True
        )
        read_engine = engine
        dialect = "postgresql"
    read_sessionmaker = async_sessionmaker(read_engine, expire_on_commit=False)
    replicas = None
    if dialect == "postgresql" and settings.replica_urls:
        replicas = ReplicaRouter.from_urls(
            read_engine,
            read_sessionmaker,
            settings.replica_urls,
            pool_size=settings.db_pool_size,
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
