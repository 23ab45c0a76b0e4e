"""Fixed-window rate limiting on top of the Cache port (Redis when configured, in-process otherwise)."""

from __future__ import annotations

from bazaar.kernel.errors import RateLimited
from bazaar.kernel.ports import Cache


class RateLimiter:
    def __init__(self, cache: Cache, *, enabled: bool = True) -> None:
        self._cache = cache
        self.enabled = enabled

    async def hit(self, bucket: str, identity: str, *, limit: int, window_seconds: int = 60) -> None:
        """Count one attempt; raise RateLimited once `limit` attempts were made in the window."""
        if not self.enabled:
            return
        hits, retry_after = await self._cache.incr_window(f"rl:{bucket}:{identity}", window_seconds)
        if hits > limit:
            raise RateLimited(
                f"too many attempts; try again in {retry_after} seconds", retry_after=retry_after, limit=limit
            )
