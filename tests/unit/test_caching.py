"""RefreshingCache without a database: single-flight fills, across 'processes' sharing one cache, and errors."""

from __future__ import annotations

import asyncio
import time

import pytest

from bazaar.adapters.memory_cache import MemoryCache
from bazaar.kernel.caching import RefreshingCache, etag_matches, etag_of
from bazaar.kernel.errors import NotFound


async def test_two_processes_sharing_a_cache_load_a_cold_key_once() -> None:
    shared = MemoryCache()
    a = RefreshingCache(shared, ttl=5, refresh_ahead=1, shared=True)
    b = RefreshingCache(shared, ttl=5, refresh_ahead=1, shared=True)
    calls = 0

    async def slow_loader() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return b'{"ok": true}'

    results = await asyncio.gather(*(c.get_or_load("k", slow_loader) for c in (a, b) for _ in range(10)))
    assert calls == 1
    assert {r.body for r in results} == {b'{"ok": true}'}
    assert {r.etag for r in results} == {etag_of(b'{"ok": true}')}


async def test_a_failing_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache = RefreshingCache(MemoryCache(), ttl=5, refresh_ahead=1)
    calls = 0

    async def missing() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise NotFound("gone")

    outcomes = await asyncio.gather(*(cache.get_or_load("k", missing) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, NotFound) for o in outcomes) and calls == 1
    with pytest.raises(NotFound):
        await cache.get_or_load("k", missing)
    assert calls == 2


async def test_invalidate_forces_a_reload() -> None:
    cache = RefreshingCache(MemoryCache(), ttl=5, refresh_ahead=1)
    versions = iter([b"1", b"2"])

    async def loader() -> bytes:
        return next(versions)

    assert (await cache.get_or_load("k", loader)).body == b"1"
    assert (await cache.get_or_load("k", loader)).body == b"1"
    await cache.invalidate("k")
    assert (await cache.get_or_load("k", loader)).body == b"2"


def test_if_none_match() -> None:
    etag = etag_of(b"x")
    assert etag_matches(etag, etag) and etag_matches(f"W/{etag}", etag) and etag_matches("*", etag)
    assert etag_matches(f'"a", {etag}', etag)
    assert not etag_matches(None, etag) and not etag_matches('"a"', etag)


async def test_keys_filled_together_do_not_come_due_together() -> None:
    """Refresh times are spread over the first half of the refresh window, not one instant for a whole burst."""
    cache = RefreshingCache(MemoryCache(), ttl=5, refresh_ahead=2)

    async def load() -> bytes:
        return b"{}"

    before = time.time()
    for n in range(200):
        await cache.get_or_load(f"k{n}", load)
    after = time.time()
    due = [cache._decode(await cache.cache.get(f"k{n}") or b"")[0] for n in range(200)]
    assert all(before + 3 <= d <= after + 4 for d in due)  # ttl - refresh_ahead ... ttl - refresh_ahead / 2
    assert max(due) - min(due) > 0.5  # spread, not one burst


async def test_keys_coming_due_together_are_refreshed_a_few_at_a_time_and_all_served_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each refresh holds a database connection: a burst of due keys refreshes at most `background_refreshes` at
    once (the rest wait their turn), while every reader is answered at once from the entry it has."""
    cache = RefreshingCache(MemoryCache(), ttl=5, refresh_ahead=2, background_refreshes=3)
    running, most = 0, 0

    async def load() -> bytes:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return b'{"v": 2}'

    async def first() -> bytes:
        return b'{"v": 1}'

    for n in range(20):
        await cache.get_or_load(f"k{n}", first)
    loads = cache.loads
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 4.5)  # every key is now past its refresh time
    started = time.monotonic()
    served = await asyncio.gather(*(cache.get_or_load(f"k{n}", load) for n in range(20)))
    assert time.monotonic() - started < 0.05  # nobody waited for a refresh
    assert {s.body for s in served} == {b'{"v": 1}'}
    await cache.settle()
    assert cache.loads - loads == 20 and most == 3
    assert {(await cache.get_or_load(f"k{n}", load)).body for n in range(20)} == {b'{"v": 2}'}
