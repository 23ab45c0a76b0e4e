"""Plain PostgreSQL statements on a small asyncpg pool of their own (the hot reservation path)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import asyncpg

from bazaar.kernel.errors import DependencyUnavailable


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Statements here run alone in autocommit and change no session state, so the pool's default reset
    (a round trip of `RESET ALL; UNLISTEN *; …` on every release) has nothing to undo."""


class AsyncpgStatements:
    def __init__(self, dsn: str, *, max_connections: int = 8) -> None:
        self._dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._max = max_connections
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._max, reset=_keep_session
                    )
        return self._pool

    async def fetch(self, query: str, *args: Any) -> list[Mapping[str, Any]]:
        try:
            pool = await self._ready()
            rows: list[Mapping[str, Any]] = await pool.fetch(query, *args)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise DependencyUnavailable("the database is not reachable", service="postgresql") from exc
        return rows

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
