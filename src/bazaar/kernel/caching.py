"""Cache-aside for hot read models: short TTL, refreshed in the background before expiry, single-flight fills.

Entries are already-serialised bytes with an ETag, so a hit costs one cache read and no
serialisation. A cold key is loaded once per process (concurrent callers await the same
load) and, across processes, by whoever wins a short fill lock; the others poll briefly.
A key read after `ttl - refresh_ahead` is served as is while one refresh runs in the
background, so a hot key never expires under load and never stampedes the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import struct
import time
from dataclasses import dataclass

from bazaar.kernel.errors import DependencyUnavailable
from bazaar.kernel.ports import Cache, Loader

log = logging.getLogger("bazaar.cache")
_HEADER = struct.Struct("!d16s")  # refresh-at (wall clock, shared by processes) and the ETag digest


@dataclass(frozen=True, slots=True)
class CachedBytes:
    body: bytes
    etag: str  # quoted, as sent in the ETag header


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match header value."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)


class RefreshingCache:
    def __init__(
        self,
        cache: Cache,
        *,
        ttl: float,
        refresh_ahead: float,
        shared: bool = False,
        fill_wait: float = 0.5,
        prefix: str = "",
        background_refreshes: int = 4,
    ) -> None:
        self.cache = cache
        self.shared = shared  # several processes share the cache: coordinate fills across them too
        self.ttl = ttl
        self.refresh_ahead = min(refresh_ahead, ttl)
        self.fill_wait = fill_wait
        self.prefix = prefix
        self._inflight: dict[str, asyncio.Future[CachedBytes]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Refreshes ahead of expiry run at most this many at once per process; the others wait their turn. Keys come
        # due in bursts (a catalog's pages every TTL), and each refresh holds a database connection: unbounded, a
        # burst took more connections than the read pool keeps, and the pool opened (with TLS) and closed the extra
        # ones again and again. The refresh window leaves time for the queue; a key it misses is filled on demand.
        self._refresh_slots = max(1, background_refreshes)
        self._refresh_gates: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}  # one per loop (tests run many)
        self.loads = 0  # how many times a loader ran in this process (for tests and metrics)

    async def get_or_load(self, key: str, loader: Loader) -> CachedBytes:
        key = self.prefix + key
        raw = await self._get(key)
        if raw is not None:
            refresh_at, entry = self._decode(raw)
            if time.time() >= refresh_at:
                self._refresh_in_background(key, loader)
            return entry
        inflight = self._inflight.get(key)
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[CachedBytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            entry = await self._fill(key, loader)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(entry)
            return entry
        finally:
            del self._inflight[key]

    async def invalidate(self, *keys: str) -> None:
        try:
            await self.cache.delete(*(self.prefix + k for k in keys))
        except DependencyUnavailable:
            log.warning("cache unavailable; %d keys expire by TTL instead", len(keys))

    async def settle(self) -> None:
        """Wait for background refreshes in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _fill(self, key: str, loader: Loader) -> CachedBytes:
        if await self._won_lock("fill:" + key):
            try:
                return await self._load_and_store(key, loader)
            finally:
                await self._release_lock("fill:" + key)
        # Another process is loading this key: wait for its result rather than hitting the database too.
        deadline = time.monotonic() + self.fill_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            raw = await self._get(key)
            if raw is not None:
                return self._decode(raw)[1]
        return await self._load_and_store(key, loader)

    def _refresh_in_background(self, key: str, loader: Loader) -> None:
        if key in self._refreshing or key in self._inflight:
            return
        self._refreshing.add(key)

        loop = asyncio.get_running_loop()
        gate = self._refresh_gates.get(loop)
        if gate is None:
            self._refresh_gates = {k: v for k, v in self._refresh_gates.items() if not k.is_closed()}
            gate = self._refresh_gates[loop] = asyncio.Semaphore(self._refresh_slots)

        async def refresh() -> None:
            try:
                async with gate:
                    if await self._won_lock("refresh:" + key):
                        try:
                            await self._load_and_store(key, loader)
                        finally:
                            await self._release_lock("refresh:" + key)
            except Exception:  # a failed refresh leaves the entry to expire; the next miss reports the error
                log.warning("background refresh of %s failed", key, exc_info=True)
            finally:
                self._refreshing.discard(key)

        task = asyncio.create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_and_store(self, key: str, loader: Loader) -> CachedBytes:
        self.loads += 1
        body = await loader()
        entry = CachedBytes(body=body, etag=etag_of(body))
        # Somewhere in the first half of the refresh window: keys filled together (a warm-up, a burst of
        # new hot keys) would otherwise come due together and be reloaded in one burst, which stalls a
        # web process's event loop for tens of milliseconds (seen: 45 ms for 20 product pages).
        refresh_at = time.time() + self.ttl - self.refresh_ahead * (1.0 - random.random() / 2)
        value = _HEADER.pack(refresh_at, entry.etag[1:-1].encode()) + body
        try:
            await self.cache.set(key, value, self.ttl)
        except DependencyUnavailable:
            log.warning("cache unavailable; serving %s uncached", key)
        return entry

    async def _won_lock(self, key: str) -> bool:
        if not self.shared:  # an in-process cache: the in-flight map already makes fills single-flight
            return True
        try:
            hits, _ = await self.cache.incr_window("lock:" + key, max(1, int(self.fill_wait + 0.999)))
        except DependencyUnavailable:
            return True
        return hits == 1

    async def _release_lock(self, key: str) -> None:
        if self.shared:
            try:
                await self.cache.delete("lock:" + key)
            except DependencyUnavailable:
                pass  # the lock expires with its window

    async def _get(self, key: str) -> bytes | None:
        try:
            return await self.cache.get(key)
        except DependencyUnavailable:
            return None

    @staticmethod
    def _decode(raw: bytes) -> tuple[float, CachedBytes]:
        refresh_at, digest = _HEADER.unpack_from(raw)
        return refresh_at, CachedBytes(body=raw[_HEADER.size :], etag=f'"{digest.decode()}"')
