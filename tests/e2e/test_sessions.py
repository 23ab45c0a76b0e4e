"""Remembered token lookups (Redis): fast, yet logging out and becoming a seller take effect at once."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from bazaar.accounts.schemas import Principal
from bazaar.accounts.sessions import SessionCache
from bazaar.adapters.memory_cache import MemoryCache
from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DependencyUnavailable
from tests.helpers import API, new_user


def _cached(container: Container) -> SessionCache:
    if not container.sessions.enabled:
        pytest.skip("token lookups are remembered only in a shared cache (BAZAAR_TEST_REDIS_URL)")
    return container.sessions


def _hash(headers: dict[str, str]) -> str:
    return hashlib.sha256(headers["Authorization"].split()[1].encode()).hexdigest()


async def test_a_logged_out_token_is_refused_at_once_though_it_was_remembered(
    client: httpx.AsyncClient, container: Container
) -> None:
    sessions = _cached(container)
    _, headers = await new_user(client)
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
    assert await sessions.get(_hash(headers)) is not None  # remembered

    assert (await client.post(f"{API}/auth/logout", headers=headers)).status_code == 204
    r = await client.get(f"{API}/me", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    r = await client.post(f"{API}/reservations", json={"offer_id": "x", "quantity": 1}, headers=headers)
    assert r.status_code == 401  # the flash-sale fast path asks the same cache


async def test_becoming_a_seller_counts_at_once(client: httpx.AsyncClient, container: Container) -> None:
    sessions = _cached(container)
    _, headers = await new_user(client)
    assert (await client.get(f"{API}/sellers/me/offers", headers=headers)).status_code == 403
    assert await sessions.get(_hash(headers)) is not None
    assert (await client.post(f"{API}/sellers", json={"display_name": "Shop"}, headers=headers)).status_code == 201
    assert (await client.get(f"{API}/sellers/me/offers", headers=headers)).status_code == 200


def _principal() -> Principal:
    return Principal(
        user_id="u1", email="a@example.com", name="A", roles=["buyer"], seller_id=None, token_id="t1",
        created_at=utcnow(),
    )  # fmt: skip


async def test_an_answer_read_before_a_logout_cannot_be_remembered_after_it() -> None:
    sessions = SessionCache(MemoryCache())
    later = utcnow().replace(year=utcnow().year + 1)
    await sessions.forget(["h"])  # the logout
    await sessions.put("h", _principal(), expires_at=later)  # a request that read the token just before it
    assert await sessions.get("h") is None  # the next request asks the database


async def test_an_expired_token_is_not_answered_from_the_cache() -> None:
    sessions = SessionCache(MemoryCache())
    await sessions.put("h", _principal(), expires_at=utcnow())
    assert await sessions.get("h") is None
    await sessions.put("k", _principal(), expires_at=utcnow().replace(year=utcnow().year + 1))
    remembered = await sessions.get("k")
    assert remembered is not None and remembered.user_id == "u1" and remembered.roles == ["buyer"]


class _DownCache(MemoryCache):
    async def get(self, key: str) -> bytes | None:
        raise DependencyUnavailable("down")

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        raise DependencyUnavailable("down")


async def test_without_the_cache_tokens_are_looked_up_in_the_database() -> None:
    sessions = SessionCache(_DownCache())
    assert await sessions.get("h") is None
    await sessions.put("h", _principal(), expires_at=utcnow())  # not remembered, no error
