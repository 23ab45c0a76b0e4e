"""Redis cache (production): shared by every web process; keys live under one prefix."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from bazaar.adapters.redis_client import redis_client
from bazaar.kernel.errors import DependencyUnavailable

# INCR and "expire if no expiry yet" as one step on one key (also on a Redis Cluster, where a transaction
# pipeline is refused by some clients).
_INCR_WINDOW = """
local hits = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {hits, redis.call('TTL', KEYS[1])}
"""


class RedisCache:
    def __init__(self, url: str, *, prefix: str = "bazaar:") -> None:
        # A burst of more requests than connections waits up to 2 s for one (redis-py's default pool raises
        # "Too many connections" at once past 100, which answered 503 to a buyer's parallel holds).
        self.client: Any = redis_client(url, max_connections=200, socket_timeout=2)
        self.prefix = prefix
        self._incr_window = self.client.register_script(_INCR_WINDOW)

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
            hits, ttl = await self._incr_window(keys=[k], args=[window_seconds])
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
