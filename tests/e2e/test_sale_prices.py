"""Scheduled sale prices: an offer's price is the sale price inside its window, in pages, search and carts, switched
by the sale-prices worker at the start and the end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from bazaar.workers import sale_prices
from tests.catalog_builder import api_offer, api_product, index_now, make_categories
from tests.helpers import API, new_seller, new_user


def sale(price: int, starts: timedelta, ends: timedelta) -> dict[str, Any]:
    now = utcnow()
    return {
        "price": {"amount": price, "currency": "USD"},
        "starts_at": (now + starts).isoformat(),
        "ends_at": (now + ends).isoformat(),
    }


async def search_price(client: httpx.AsyncClient, q: str) -> int:
    items = (await client.get(f"{API}/search", params={"q": q})).json()["items"]
    return int(items[0]["price_from"]["amount"])


async def test_a_sale_switches_on_and_off_on_time(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, seller = await new_seller(client)
    product = await api_product(client, seller, title="Copper Kettle", brand="Acme", category_id=cats["Kitchen"])
    offer = await api_offer(client, seller, sku_id=product["skus"][0]["id"], price=5000)
    r = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}",
        json={"sale": sale(3500, timedelta(seconds=2), timedelta(hours=1))},
        headers=seller,
    )
    assert r.status_code == 200, r.text
    assert r.json()["price"]["amount"] == 5000 and r.json()["sale"]["live"] is False
    bad = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}",
        json={"sale": sale(6000, timedelta(0), timedelta(hours=1))},
        headers=seller,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_sale"
    _, buyer = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": offer["id"], "quantity": 1}, headers=buyer)

    async with container.uow() as uow:  # the worker's step, at the sale's start
        from bazaar.catalog import sales

        assert await sales.switch_due_sales(uow=uow, now=utcnow() + timedelta(seconds=3)) == 1
        await uow.commit()
    await index_now(container)
    page = (await client.get(f"{API}/products/{product['id']}")).json()
    live = page["offers"][0]
    assert live["price"]["amount"] == 3500 and live["sale"]["live"] and live["sale"]["regular_price"]["amount"] == 5000
    assert await search_price(client, "copper kettle") == 3500
    cart = (await client.get(f"{API}/cart", headers=buyer)).json()
    assert cart["items"][0]["unit_price"]["amount"] == 3500 and cart["items"][0]["price_changed"]
    html = (await client.get(f"/p/{product['id']}")).text
    assert "Sale</span>" in html

    # the seller changes the price during the sale: the price it returns to changes, the sale price stays
    r = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}", json={"price": {"amount": 4800, "currency": "USD"}}, headers=seller
    )
    assert r.json()["price"]["amount"] == 3500 and r.json()["sale"]["regular_price"]["amount"] == 4800

    async with container.uow() as uow:  # ...and at its end
        from bazaar.catalog import sales

        assert await sales.switch_due_sales(uow=uow, now=utcnow() + timedelta(hours=2)) == 1
        await uow.commit()
    await index_now(container)
    ended = (await client.get(f"{API}/products/{product['id']}")).json()["offers"][0]
    assert ended["price"]["amount"] == 4800 and ended["sale"] is None
    assert await search_price(client, "copper kettle") == 4800
    assert await sale_prices.run_once(container) == 0  # nothing left to switch


async def test_a_sale_that_has_started_applies_at_once_and_can_be_cancelled(
    client: httpx.AsyncClient, container: Container
) -> None:
    cats = await make_categories(container)
    _, seller = await new_seller(client)
    product = await api_product(client, seller, title="Brass Teapot", brand="Acme", category_id=cats["Kitchen"])
    r = await client.post(
        f"{API}/sellers/me/offers",
        json={
            "sku_id": product["skus"][0]["id"],
            "price": {"amount": 2000, "currency": "USD"},
            "quantity": 5,
            "sale": sale(1500, -timedelta(minutes=1), timedelta(hours=1)),
        },
        headers=seller,
    )
    assert r.status_code == 201 and r.json()["price"]["amount"] == 1500 and r.json()["sale"]["live"]
    cancelled = await client.patch(f"{API}/sellers/me/offers/{r.json()['id']}", json={"sale": None}, headers=seller)
    assert cancelled.json()["price"]["amount"] == 2000 and cancelled.json()["sale"] is None
