"""Ports: the Protocols behind which external systems sit; adapters implement them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def incr_window(self, key: str, window_seconds: int) -> tuple[int, int]:
        """Count one hit in a fixed window; answers (hits so far, seconds until the window ends)."""
        ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


Loader = Callable[[], Awaitable[bytes]]
