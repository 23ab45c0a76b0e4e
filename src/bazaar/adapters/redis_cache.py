"""Redis cache (production): shared by every web process; keys live under one prefix."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from bazaar.kernel.errors import DependencyUnavailable


class RedisCache:
    def __init__(self, url: str, *, prefix: str = "bazaar:") -> None:
        # A burst of more requests than connections waits up to 2 s for one (redis-py's default pool raises
        # "Too many connections" at once past 100, which answered 503 to a buyer's parallel holds).
        pool = BlockingConnectionPool.from_url(
            url, max_connections=200, timeout=2, socket_timeout=2, socket_connect_timeout=2
        )
        self.client: Redis = Redis.from_pool(pool)
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self._k(key))
        except RedisError as exc:
            raise DependencyUnavailable("the cache is not reachable", service="redis") from exc
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            await self.client.set(self._k(key), value, px=max(1, int(ttl_seconds * 1000)))
        except RedisError as exc:
            raise DependencyUnavailable("the cache is not reachable", service="redis") from exc

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        try:
            return bool(await self.client.set(self._k(key), value, px=max(1, int(ttl_seconds * 1000)), nx=True))
        except RedisError as exc:
            raise DependencyUnavailable("the cache is not reachable", service="redis") from exc

    async def delete(self, *keys: str) -> None:
        if keys:
            try:
                await self.client.delete(*(self._k(k) for k in keys))
            except RedisError as exc:
                raise DependencyUnavailable("the cache is not reachable", service="redis") from exc

    async def incr_window(self, key: str, window_seconds: int) -> tuple[int, int]:
        k = self._k(key)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(k)
                pipe.expire(k, window_seconds, nx=True)
                pipe.ttl(k)
                hits, _, ttl = await pipe.execute()
        except RedisError as exc:
            raise DependencyUnavailable("the rate limiter is not reachable", service="redis") from exc
        return int(hits), max(1, int(ttl))

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self.client.aclose()
