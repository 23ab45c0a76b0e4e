"""Ports: the Protocols behind which external systems sit; adapters implement them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


class SoldOutFlags(Protocol):
    """A cheap, possibly stale "this offer has no free units" hint; the database stays the truth."""

    async def is_sold_out(self, offer_id: str) -> bool: ...
    async def mark_sold_out(self, offer_id: str, ttl_seconds: float) -> None: ...
    async def clear(self, *offer_ids: str) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class StoredCart:
    """A cart as the active-cart store holds it; `version` only grows, so an older copy never wins."""

    cart_id: str
    version: int
    user_id: str | None
    status: str
    lines: tuple[StoredCartLine, ...]


@dataclass(frozen=True)
class StoredCartLine:
    item_id: str
    offer_id: str
    quantity: int
    price_at_add_amount: int
    currency: str


class CartStore(Protocol):
    """Where active carts are read from; the database is always written too (the durable copy)."""

    async def load(self, cart_id: str) -> StoredCart | None:
        """The held copy, or None when this store does not hold the cart (read the database)."""
        ...

    async def save(self, cart: StoredCart) -> None:
        """Keep `cart` unless a copy with a higher version is already held."""
        ...

    async def close(self) -> None: ...
