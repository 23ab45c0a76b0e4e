"""Every in-process cache has a size bound: a day of traffic leaves a process's memory flat."""

from __future__ import annotations

from bazaar.adapters.memory_cache import MemoryCache
from bazaar.adapters.sold_out import _REMEMBERED, MemorySoldOutFlags


async def test_the_memory_cache_drops_the_least_recent_entries_past_its_byte_bound() -> None:
    cache = MemoryCache(max_entries=1_000_000, max_bytes=100_000)
    for n in range(1_000):
        await cache.set(f"page:{n}", b"x" * 1_000, ttl_seconds=60)
    assert cache.size_bytes <= 100_000
    assert await cache.get("page:999") == b"x" * 1_000  # the newest stay
    assert await cache.get("page:0") is None
    await cache.set("page:999", b"y", ttl_seconds=60)  # replacing an entry counts its new size only
    await cache.delete("page:999")
    assert cache.size_bytes <= 100_000 - 1_000


async def test_the_memory_cache_keeps_its_entry_bound_too() -> None:
    cache = MemoryCache(max_entries=10)
    for n in range(100):
        await cache.set(str(n), b"v", ttl_seconds=60)
    assert [await cache.get(str(n)) for n in (89, 90, 99)] == [None, b"v", b"v"]


async def test_sold_out_flags_nobody_asks_about_again_do_not_pile_up() -> None:
    flags = MemorySoldOutFlags()
    for n in range(3 * _REMEMBERED):
        await flags.mark_sold_out(f"offer-{n}", ttl_seconds=0)  # expired at once, never asked about
    assert len(flags._until) <= _REMEMBERED
