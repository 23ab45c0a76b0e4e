"""Sold-out flags: in-process (embedded, per web process) or in Redis (shared by every web process)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError


class MemorySoldOutFlags:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def is_sold_out(self, offer_id: str) -> bool:
        return bool(await self.sold_out_of([offer_id]))

    async def sold_out_of(self, offer_ids: Sequence[str]) -> set[str]:
        now = time.monotonic()
        flagged = set()
        for offer_id in offer_ids:
            until = self._until.get(offer_id)
            if until is None:
                continue
            if until <= now:
                self._until.pop(offer_id, None)
            else:
                flagged.add(offer_id)
        return flagged

    async def mark_sold_out(self, offer_id: str, ttl_seconds: float) -> None:
        now = time.monotonic()
        if len(self._until) >= _REMEMBERED:  # flags nobody asked about again stay until pruned: keep it bounded
            self._until = {o: until for o, until in self._until.items() if until > now}
        self._until[offer_id] = now + ttl_seconds

    async def clear(self, *offer_ids: str) -> None:
        for offer_id in offer_ids:
            self._until.pop(offer_id, None)

    async def close(self) -> None:
        self._until.clear()


# How long a process trusts what Redis last said about an offer. During a rush every request asks, so
# even a few milliseconds spare most round trips; the cost is that another process's flag (or its
# clearing) is seen that much later, when the database still has the last word.
NOT_SOLD_OUT_SECONDS = 0.05
SOLD_OUT_SECONDS = 0.5
_REMEMBERED = 10_000


class RedisSoldOutFlags:
    """A flag is only a hint: when Redis is down we answer "not sold out" and let the database decide."""

    def __init__(self, client: Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix + "soldout:"
        self._seen: dict[str, tuple[float, bool]] = {}  # offer -> (trusted until, sold out)

    async def is_sold_out(self, offer_id: str) -> bool:
        return bool(await self.sold_out_of([offer_id]))

    async def sold_out_of(self, offer_ids: Sequence[str]) -> set[str]:
        """What this process was told lately, and the rest asked of Redis in one pipeline (one round trip; on a
        cluster one per shard holding some of them, where a multi-key MGET would be refused across slots)."""
        now = time.monotonic()
        flagged: set[str] = set()
        unknown: list[str] = []
        for offer_id in dict.fromkeys(offer_ids):
            seen = self._seen.get(offer_id)
            if seen is not None and seen[0] > now:
                if seen[1]:
                    flagged.add(offer_id)
            else:
                unknown.append(offer_id)
        if not unknown:
            return flagged
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for offer_id in unknown:
                    pipe.exists(self.prefix + offer_id)
                values = await pipe.execute()
        except RedisError:
            return flagged
        if len(self._seen) + len(unknown) > _REMEMBERED:
            self._seen.clear()
        for offer_id, value in zip(unknown, values, strict=True):
            sold_out = bool(value)
            self._seen[offer_id] = (now + (SOLD_OUT_SECONDS if sold_out else NOT_SOLD_OUT_SECONDS), sold_out)
            if sold_out:
                flagged.add(offer_id)
        return flagged

    async def mark_sold_out(self, offer_id: str, ttl_seconds: float) -> None:
        self._seen[offer_id] = (time.monotonic() + min(ttl_seconds, SOLD_OUT_SECONDS), True)
        try:
            await self.client.set(self.prefix + offer_id, b"1", px=max(1, int(ttl_seconds * 1000)))
        except RedisError:
            return

    async def clear(self, *offer_ids: str) -> None:
        if not offer_ids:
            return
        for offer_id in offer_ids:
            self._seen.pop(offer_id, None)
        try:
            await self.client.delete(*(self.prefix + o for o in offer_ids))
        except RedisError:
            return  # the flag's TTL bounds how long a missed clear can matter

    async def close(self) -> None:
        await self.client.aclose()
