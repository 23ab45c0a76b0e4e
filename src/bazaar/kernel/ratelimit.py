"""Fixed-window rate limiting on top of the Cache port (Redis when configured, in-process otherwise).

The rule when the shared cache (Redis) is down: limits are counted in each process's memory instead
of cluster-wide. Nobody is refused because Redis is down, and nobody gets unlimited attempts either:
for the outage, a client can make at most (processes x limit) attempts per window.
"""

from __future__ import annotations

import logging

from bazaar.kernel.errors import DependencyUnavailable, RateLimited
from bazaar.kernel.ports import Cache

log = logging.getLogger("bazaar.ratelimit")


class RateLimiter:
    def __init__(self, cache: Cache, *, enabled: bool = True, fallback: Cache | None = None) -> None:
        self._cache = cache
        self._fallback = fallback  # an in-process counter for when `cache` is not reachable
        self.enabled = enabled

    async def hit(self, bucket: str, identity: str, *, limit: int, window_seconds: int = 60) -> None:
        """Count one attempt; raise RateLimited once `limit` attempts were made in the window."""
        if not self.enabled:
            return
        key = f"rl:{bucket}:{identity}"
        try:
            hits, retry_after = await self._cache.incr_window(key, window_seconds)
        except DependencyUnavailable:
            if self._fallback is None:
                raise
            log.warning("rate limiter: shared counter unavailable, counting %s in this process", bucket)
            hits, retry_after = await self._fallback.incr_window(key, window_seconds)
        if hits > limit:
            raise RateLimited(
                f"too many attempts; try again in {retry_after} seconds", retry_after=retry_after, limit=limit
            )
