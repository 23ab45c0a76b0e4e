"""In-process cache (the embedded default): a bounded LRU with per-key expiry."""

from __future__ import annotations

import time
from collections import OrderedDict


class MemoryCache:
    def __init__(self, max_entries: int = 50_000) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._windows: dict[str, tuple[float, int]] = {}
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._data[key] = (time.monotonic() + ttl_seconds, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl_seconds)
        return True

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

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
