"""In-process cache (the embedded default): an LRU with per-key expiry, bounded by entries and by bytes."""

from __future__ import annotations

import time
from collections import OrderedDict


class MemoryCache:
    def __init__(self, max_entries: int = 50_000, max_bytes: int = 64 * 2**20) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._windows: dict[str, tuple[float, int]] = {}
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0  # keys and values held, so a process's memory stays flat whatever it caches

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def _drop(self, key: str) -> None:
        item = self._data.pop(key, None)
        if item is not None:
            self._bytes -= len(key) + len(item[1])

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            self._drop(key)
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._drop(key)
        self._data[key] = (time.monotonic() + ttl_seconds, value)
        self._bytes += len(key) + len(value)
        while len(self._data) > self._max or (self._bytes > self._max_bytes and len(self._data) > 1):
            self._drop(next(iter(self._data)))

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl_seconds)
        return True

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._drop(key)

    async def incr_window(self, key: str, window_seconds: int) -> tuple[int, int]:
        now = time.monotonic()
        started, hits = self._windows.get(key, (now, 0))
        if now - started >= window_seconds:
            started, hits = now, 0
        hits += 1
        self._windows[key] = (started, hits)
        if len(self._windows) > self._max:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window_seconds}
        return hits, max(1, int(started + window_seconds - now + 0.999))

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
        self._bytes = 0
