"""The Redis active-cart store: carts are served from Redis, written through to the database, and survive a flush."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis

from bazaar.adapters.cart_store import RedisCartStore
from bazaar.bootstrap import Container
from bazaar.kernel.ports import StoredCart, StoredCartLine
from tests.helpers import API
from tests.inventory_factories import make_offer

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
def store(container: Container) -> RedisCartStore:
    if not isinstance(container.carts, RedisCartStore):
        pytest.skip("BAZAAR_TEST_REDIS_URL is not set")
    return container.carts


async def _flush(container: Container) -> None:
    client = aioredis.Redis.from_url(str(container.settings.redis_url))
    try:
        keys = [k async for k in client.scan_iter(match=container.settings.redis_prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_a_flushed_redis_loses_no_cart(
    client: httpx.AsyncClient, container: Container, store: RedisCartStore
) -> None:
    offer = await make_offer(container, quantity=10)
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 2})
    cart_id = r.json()["id"]
    held = await store.load(cart_id)
    assert held is not None and [line.quantity for line in held.lines] == [2]  # written through after commit

    await _flush(container)
    assert await store.load(cart_id) is None
    cart = (await client.get(f"{API}/cart", headers={"X-Cart-Id": cart_id})).json()
    assert [i["quantity"] for i in cart["items"]] == [2]  # read from the database on the miss
    assert await store.load(cart_id) is not None  # and put back for the next read


async def test_an_older_copy_never_replaces_a_newer_one(container: Container, store: RedisCartStore) -> None:
    line = StoredCartLine("item-1", "offer-1", 1, 100, "USD")
    await store.save(StoredCart("cart-x", 20, None, "active", (line,)))
    await store.save(StoredCart("cart-x", 10, None, "active", ()))  # a slow reader with a stale copy
    held = await store.load("cart-x")
    assert held is not None and held.version == 20 and held.lines == (line,)
