"""Product page cache over HTTP: ETag and 304, Cache-Control, invalidation by catalog and stock events,
one database read for a burst of requests on a cold page, and refresh before expiry."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bazaar.bootstrap import Container
from bazaar.catalog.models import Product
from bazaar.catalog.page_cache import ProductPages
from bazaar.inventory.stock import set_on_hand
from tests.catalog_builder import api_offer, api_product, make_categories
from tests.helpers import API, drain_events, new_seller


async def _product_with_offer(
    client: httpx.AsyncClient, container: Container
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    product = await api_product(client, headers, title="Studio Monitor", brand="JBL", category_id=cats["Speakers"])
    offer = await api_offer(client, headers, sku_id=product["skus"][0]["id"], price=9900, quantity=20)
    await drain_events(container)
    return product, offer, headers


async def test_etag_and_304(client: httpx.AsyncClient, container: Container) -> None:
    product, _, _ = await _product_with_offer(client, container)
    url = f"{API}/products/{product['id']}"
    first = await client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "max-age=" in first.headers["cache-control"] and "public" in first.headers["cache-control"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(url, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b"" and again.headers["etag"] == etag
    stale = await client.get(url, headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200 and stale.json() == first.json()


async def test_price_and_stock_changes_bust_the_cached_page(client: httpx.AsyncClient, container: Container) -> None:
    product, offer, headers = await _product_with_offer(client, container)
    url = f"{API}/products/{product['id']}"
    before = await client.get(url)
    assert before.json()["best_offer"]["price"]["amount"] == 9900

    r = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}", json={"price": {"amount": 8800, "currency": "USD"}}, headers=headers
    )
    assert r.status_code == 200
    # Until the event is delivered the cached page stands (it is at most a few seconds old)...
    assert (await client.get(url)).json()["best_offer"]["price"]["amount"] == 9900
    await drain_events(container)
    after = await client.get(url)
    assert after.json()["best_offer"]["price"]["amount"] == 8800
    assert after.headers["etag"] != before.headers["etag"]
    # ...and the old ETag no longer earns a 304.
    assert (await client.get(url, headers={"If-None-Match": before.headers["etag"]})).status_code == 200

    # A stock change from the inventory context (not through the offer API) busts it too.
    async with container.uow() as uow:
        await set_on_hand(uow=uow, offer_id=offer["id"], product_id=product["id"], quantity=2)
        await uow.commit()
    await drain_events(container)
    page = (await client.get(url)).json()
    assert page["offers"][0]["availability"] == "low_stock" and page["offers"][0]["available_quantity"] == 2


async def test_a_burst_on_a_cold_page_reads_the_database_once(client: httpx.AsyncClient, container: Container) -> None:
    product, _, _ = await _product_with_offer(client, container)
    pages: ProductPages = container.extras["product_pages"]
    await pages.invalidate(product["id"])
    loads_before = pages.cache.loads
    responses = await asyncio.gather(*(client.get(f"{API}/products/{product['id']}") for _ in range(25)))
    assert all(r.status_code == 200 for r in responses)
    assert len({r.content for r in responses}) == 1
    assert pages.cache.loads - loads_before == 1


async def test_hot_page_is_refreshed_before_it_expires(client: httpx.AsyncClient, container: Container) -> None:
    product, _, _ = await _product_with_offer(client, container)
    pages: ProductPages = container.extras["product_pages"]
    # Due for a refresh 0.1-1.05 s after filling (the first half of the refresh window), gone after 2 s.
    pages.cache.ttl, pages.cache.refresh_ahead = 2.0, 1.9
    await pages.invalidate(product["id"])
    url = f"{API}/products/{product['id']}"
    assert (await client.get(url)).json()["rating"]["average"] == 0.0
    # Changed behind the cache's back (no event): only a refresh can pick it up.
    async with container.uow() as uow:
        await uow.session.execute(update(Product).where(Product.id == product["id"]).values(rating_average=4.2))
        await uow.commit()
    await asyncio.sleep(1.1)
    loads = pages.cache.loads
    served = await client.get(url)
    assert served.json()["rating"]["average"] == 0.0  # served at once from the cache, not after a database read
    await pages.cache.settle()
    assert pages.cache.loads == loads + 1  # one background refresh
    assert (await client.get(url)).json()["rating"]["average"] == 4.2


async def test_not_found_is_not_cached_as_a_page(client: httpx.AsyncClient, container: Container) -> None:
    r = await client.get(f"{API}/products/01ABSENT")
    assert r.status_code == 404 and "etag" not in r.headers


async def test_two_processes_on_one_redis_fill_a_cold_page_once(
    client: httpx.AsyncClient, container: Container, pg_only: None
) -> None:
    """Two web processes (two containers, two connection pools) sharing Redis: one database read in all."""
    from bazaar.bootstrap import build_container

    if container.settings.redis_url is None:
        pytest.skip("needs Redis")
    product, _, _ = await _product_with_offer(client, container)
    other = build_container(container.settings)
    try:
        ours: ProductPages = container.extras["product_pages"]
        theirs: ProductPages = other.extras["product_pages"]
        await ours.invalidate(product["id"])
        before = ours.cache.loads + theirs.cache.loads
        pages = await asyncio.gather(*(p.get(product["id"]) for p in (ours, theirs) for _ in range(10)))
        assert ours.cache.loads + theirs.cache.loads - before == 1
        assert len({p.etag for p in pages}) == 1
    finally:
        await other.close()
