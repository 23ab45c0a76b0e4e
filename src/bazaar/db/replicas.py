"""PostgreSQL read replicas for reads that tolerate lag (BAZAAR_DATABASE_REPLICA_URLS).

Which reads: catalog reads behind cache fills, order history, seller lists, full search rebuilds
(`Container.replica_uow()`). Everything else, and every write, uses the primary.

Two guards keep a replica's lag from showing:
- **Freshness**: about every `check_seconds` each process compares each replica's replayed WAL position
  with the primary's position at the previous check; a replica that has not replayed up to it (it lags
  by more than one check interval), or does not answer, is skipped until it has caught up: its reads go
  to the primary.
- **Read-your-writes**: a client that has just written (any successful POST/PUT/PATCH/DELETE) reads from
  the primary for `sticky_seconds` (the web layer marks it; see `primary_only`), so it never sees its
  own write go missing, whatever a replica's lag.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

log = logging.getLogger("bazaar.db.replicas")
_primary_only: contextvars.ContextVar[bool] = contextvars.ContextVar("bazaar_primary_only", default=False)


@contextmanager
def primary_only() -> Iterator[None]:
    """Within this block (a request of a client that has just written), lag-tolerant reads use the primary."""
    token = _primary_only.set(True)
    try:
        yield
    finally:
        _primary_only.reset(token)


def reading_from_primary() -> bool:
    return _primary_only.get()


def _as_asyncpg(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


@dataclass
class Replica:
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[Any]
    fresh: bool = False  # until the first check says so, reads go to the primary
    replayed: int = 0  # WAL position replayed at the last check (bytes)
    error: str | None = None


@dataclass
class ReplicaRouter:
    primary: AsyncEngine
    primary_sessionmaker: async_sessionmaker[Any]
    replicas: list[Replica]
    check_seconds: float = 1.0
    _next_check: float = 0.0
    _primary_lsn: int | None = None
    _turn: Iterator[int] = field(default_factory=lambda: itertools.count())
    _checking: asyncio.Lock | None = None
    reads: dict[str, int] = field(default_factory=lambda: {"replica": 0, "primary": 0})

    @classmethod
    def from_urls(
        cls,
        primary: AsyncEngine,
        primary_sessionmaker: async_sessionmaker[Any],
        urls: list[str],
        *,
        make_engine: Callable[[str], AsyncEngine],
        check_seconds: float,
    ) -> ReplicaRouter:
        replicas = []
        for url in urls:
            engine = make_engine(_as_asyncpg(url))
            replicas.append(Replica(url, engine, async_sessionmaker(engine, expire_on_commit=False)))
        return cls(primary, primary_sessionmaker, replicas, check_seconds=check_seconds)

    async def sessionmaker(self) -> async_sessionmaker[Any]:
        """Where the next lag-tolerant read goes: a fresh replica in turn, else the primary."""
        if self.replicas and not _primary_only.get():
            await self._check_now_and_then()
            fresh = [r for r in self.replicas if r.fresh]
            if fresh:
                self.reads["replica"] += 1
                return fresh[next(self._turn) % len(fresh)].sessionmaker
        self.reads["primary"] += 1
        return self.primary_sessionmaker

    async def _check_now_and_then(self) -> None:
        if time.monotonic() < self._next_check:
            return
        if self._checking is None:
            self._checking = asyncio.Lock()
        if self._checking.locked():
            return  # another request is checking; use what the last check said
        async with self._checking:
            self._next_check = time.monotonic() + self.check_seconds
            await self.check()

    async def check(self) -> None:
        """Sample the primary's WAL position; a replica is fresh if it replayed what the primary had last time."""
        previous = self._primary_lsn
        try:
            async with self.primary.connect() as conn:
                self._primary_lsn = int(
                    (await conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))).scalar_one()
                )
        except Exception as exc:  # the primary's own trouble is reported elsewhere; keep the replicas' state
            log.warning("could not read the primary's WAL position: %s", exc)
            return
        for replica in self.replicas:
            try:
                async with replica.engine.connect() as conn:
                    value = (await conn.execute(text("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"))).scalar()
                replica.replayed = int(value or 0)
                replica.fresh = previous is not None and replica.replayed >= previous
                replica.error = None if replica.fresh else "lagging"
            except Exception as exc:
                replica.fresh, replica.error = False, type(exc).__name__
            if not replica.fresh:
                log.info("replica %s not used for now: %s", replica.engine.url.host, replica.error)

    async def dispose(self) -> None:
        for replica in self.replicas:
            await replica.engine.dispose()
