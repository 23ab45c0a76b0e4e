"""Catalog over HTTP: categories, sellers creating products and offers, product pages and the buy box."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from bazaar.accounts.models import Seller
from bazaar.bootstrap import Container
from bazaar.inventory.models import StockBucket
from tests.catalog_builder import api_offer, api_product, make_categories
from tests.e2e.test_accounts import assert_error
from tests.helpers import API, new_seller, new_user


async def _set_seller_rating(container: Container, seller_id: str, rating: float) -> None:
    async with container.uow() as uow:
        await uow.session.execute(update(Seller).where(Seller.id == seller_id).values(rating_average=rating))
        await uow.commit()


async def _page(client: httpx.AsyncClient, product_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/products/{product_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_category_tree(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    r = await client.get(f"{API}/categories")
    assert r.status_code == 200
    tree = r.json()
    assert [c["name"] for c in tree] == ["Electronics", "Home"]
    electronics = tree[0]
    assert electronics["id"] == cats["Electronics"] and electronics["slug"] == "electronics"
    assert [c["name"] for c in electronics["children"]] == ["Audio", "Computers"]
    audio = electronics["children"][0]
    assert [c["name"] for c in audio["children"]] == ["Headphones", "Speakers"]
    assert audio["children"][0]["children"] == []


async def test_seller_creates_product_with_skus(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    seller, headers = await new_seller(client)
    product = await api_product(
        client, headers, title="  Studio Headphones ", brand="Sony", category_id=cats["Headphones"], skus=2
    )
    assert product["title"] == "Studio Headphones"
    assert product["category"] == {"id": cats["Headphones"], "slug": "headphones", "name": "Headphones"}
    assert len(product["skus"]) == 2 and all(s["product_id"] == product["id"] for s in product["skus"])
    assert product["offers"] == [] and product["best_offer"] is None
    assert product["rating"] == {"average": 0.0, "count": 0, "histogram": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}
    page = await _page(client, product["id"])
    assert page["attributes"] == {"colour": "black"}
    assert {s["id"] for s in page["skus"]} == {s["id"] for s in product["skus"]}


async def test_product_creation_is_refused_without_seller_role_or_with_bad_input(
    client: httpx.AsyncClient, container: Container
) -> None:
    cats = await make_categories(container)
    body = {"title": "X", "brand": "Y", "category_id": cats["Mice"], "skus": [{"attributes": {}}]}
    assert_error(await client.post(f"{API}/products", json=body), 401, "not_authenticated")
    _, buyer = await new_user(client)
    assert_error(await client.post(f"{API}/products", json=body, headers=buyer), 403, "forbidden")
    _, headers = await new_seller(client)
    bad_category = {**body, "category_id": "nope"}
    assert_error(await client.post(f"{API}/products", json=bad_category, headers=headers), 422, "unknown_category")
    no_skus = {**body, "skus": []}
    assert_error(await client.post(f"{API}/products", json=no_skus, headers=headers), 422, "validation_error")
    blank = {**body, "title": "   "}
    assert_error(await client.post(f"{API}/products", json=blank, headers=headers), 422, "validation_error")
    gtin = {**body, "skus": [{"attributes": {}, "gtin": "4006381333931"}]}
    assert (await client.post(f"{API}/products", json=gtin, headers=headers)).status_code == 201
    assert_error(await client.post(f"{API}/products", json=gtin, headers=headers), 409, "gtin_taken")


async def test_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{API}/products/NOPE"), 404, "product_not_found")
    assert_error(await client.get(f"{API}/products/{'x' * 200}"), 404, "product_not_found")


async def test_offers_availability_and_buy_box(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    s1, h1 = await new_seller(client, "Cheap But Slow")
    s2, h2 = await new_seller(client, "Well Rated")
    s3, h3 = await new_seller(client, "Sold Out Store")
    product = await api_product(client, h1, title="Wireless Mouse", brand="Logitech", category_id=cats["Mice"])
    sku = product["skus"][0]["id"]
    # Same total (20.00) from s1 and s2; s2 has the better rating and wins the tie. s3 is cheapest but sold out.
    o1 = await api_offer(client, h1, sku_id=sku, price=1500, shipping=500, quantity=3)
    o2 = await api_offer(client, h2, sku_id=sku, price=1800, shipping=200, quantity=40, condition="refurbished")
    o3 = await api_offer(client, h3, sku_id=sku, price=900, shipping=0, quantity=0)
    await _set_seller_rating(container, s1["id"], 3.5)
    await _set_seller_rating(container, s2["id"], 4.8)

    page = await _page(client, product["id"])
    offers = {o["id"]: o for o in page["offers"]}
    assert offers[o1["id"]]["availability"] == "low_stock" and offers[o1["id"]]["available_quantity"] == 3
    assert offers[o2["id"]]["availability"] == "in_stock" and offers[o2["id"]]["condition"] == "refurbished"
    assert offers[o3["id"]]["availability"] == "out_of_stock"
    assert offers[o1["id"]]["price"] == {"amount": 1500, "currency": "USD"}
    assert offers[o1["id"]]["shipping_price"] == {"amount": 500, "currency": "USD"}
    assert offers[o2["id"]]["seller"] == {"id": s2["id"], "display_name": "Well Rated", "rating": 4.8}
    assert page["best_offer"]["id"] == o2["id"]
    assert [o["id"] for o in page["offers"]][-1] == o3["id"]  # what cannot be bought comes last

    # s1 drops its price: now strictly cheapest in total, it takes the buy box.
    r = await client.patch(f"{API}/sellers/me/offers/{o1['id']}", json={"price": {"amount": 1400}}, headers=h1)
    assert r.status_code == 200, r.text
    await container.extras["product_pages"].invalidate(product["id"])
    assert (await _page(client, product["id"]))["best_offer"]["id"] == o1["id"]

    # Everyone sold out: no buy box.
    for offer, headers in ((o1, h1), (o2, h2)):
        r = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json={"quantity": 0}, headers=headers)
        assert r.status_code == 200 and r.json()["availability"] == "out_of_stock"
    await container.extras["product_pages"].invalidate(product["id"])
    assert (await _page(client, product["id"]))["best_offer"] is None


async def test_offer_creation_validation(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    product = await api_product(client, headers, title="Kettle", brand="Philips", category_id=cats["Kitchen"])
    sku = product["skus"][0]["id"]
    good = {"sku_id": sku, "price": {"amount": 2999, "currency": "USD"}, "quantity": 5}
    url = f"{API}/sellers/me/offers"
    for bad in (
        {**good, "price": {"amount": 29.99, "currency": "USD"}},
        {**good, "price": {"amount": -1, "currency": "USD"}},
        {**good, "price": {"amount": 100, "currency": "EUR"}},
        {**good, "quantity": -1},
        {**good, "condition": "broken"},
    ):
        assert_error(await client.post(url, json=bad, headers=headers), 422, "validation_error")
    assert_error(await client.post(url, json={**good, "sku_id": "nope"}, headers=headers), 422, "unknown_sku")
    created = await client.post(url, json=good, headers=headers)
    assert created.status_code == 201
    offer = created.json()
    assert offer["shipping_price"] == {"amount": 0, "currency": "USD"} and offer["condition"] == "new"
    assert offer["quantity"] == 5 and offer["available_quantity"] == 5
    assert_error(await client.post(url, json=good, headers=headers), 409, "offer_exists")
    _, buyer = await new_user(client)
    assert_error(await client.post(url, json=good, headers=buyer), 403, "forbidden")


async def test_patch_offer_price_and_stock(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    _, other = await new_seller(client, "Someone Else")
    product = await api_product(client, headers, title="Speaker", brand="JBL", category_id=cats["Speakers"])
    offer = await api_offer(client, headers, sku_id=product["skus"][0]["id"], price=5000, quantity=10)
    url = f"{API}/sellers/me/offers/{offer['id']}"

    assert_error(await client.patch(url, json={"quantity": 1}, headers=other), 404, "offer_not_found")
    assert_error(await client.patch(f"{API}/sellers/me/offers/NOPE", json={}, headers=headers), 404, "offer_not_found")
    assert_error(await client.patch(url, json={"quantity": -5}, headers=headers), 422, "validation_error")

    r = await client.patch(url, json={"price": {"amount": 4500, "currency": "USD"}, "quantity": 7}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["price"]["amount"] == 4500 and r.json()["quantity"] == 7

    # A checkout holds 4 units: stock cannot go below that, and the answer changes nothing.
    async with container.uow() as uow:
        await uow.session.execute(
            update(StockBucket).where(StockBucket.offer_id == offer["id"]).values(available=StockBucket.available - 4)
        )
        await uow.commit()
    err = assert_error(
        await client.patch(url, json={"quantity": 3, "price": {"amount": 1}}, headers=headers), 409, "stock_below_held"
    )
    assert err["details"]["held"] == 4
    listing = (await client.get(f"{API}/sellers/me/offers", headers=headers)).json()
    assert listing["total"] == 1
    assert listing["items"][0]["quantity"] == 7 and listing["items"][0]["available_quantity"] == 3
    assert listing["items"][0]["price"]["amount"] == 4500

    r = await client.patch(url, json={"quantity": 4}, headers=headers)
    assert r.status_code == 200 and r.json()["quantity"] == 4 and r.json()["available_quantity"] == 0

    # A "was" price must be above the price; 0 removes it.
    err = assert_error(
        await client.patch(url, json={"list_price": {"amount": 4500}}, headers=headers), 422, "invalid_list_price"
    )
    assert err["details"] == {"list_price": 4500, "price": 4500}
    r = await client.patch(url, json={"list_price": {"amount": 5999}}, headers=headers)
    assert r.status_code == 200 and r.json()["list_price"] == {"amount": 5999, "currency": "USD"}
    r = await client.patch(url, json={"list_price": {"amount": 0}}, headers=headers)
    assert r.status_code == 200 and r.json()["list_price"] is None


async def test_seller_offer_listing_is_paginated_and_private(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, headers = await new_seller(client)
    _, other = await new_seller(client, "Other Shop")
    for i in range(3):
        product = await api_product(client, headers, title=f"Mouse {i}", brand="Logitech", category_id=cats["Mice"])
        await api_offer(client, headers, sku_id=product["skus"][0]["id"], price=1000 + i)
    first = (await client.get(f"{API}/sellers/me/offers?per_page=2", headers=headers)).json()
    assert first["total"] == 3 and first["page"] == 1 and first["per_page"] == 2 and len(first["items"]) == 2
    second = (await client.get(f"{API}/sellers/me/offers?per_page=2&page=2", headers=headers)).json()
    assert len(second["items"]) == 1
    assert {o["id"] for o in first["items"]}.isdisjoint({o["id"] for o in second["items"]})
    assert (await client.get(f"{API}/sellers/me/offers", headers=other)).json()["total"] == 0
    assert_error(await client.get(f"{API}/sellers/me/offers?per_page=101", headers=headers), 422, "validation_error")
    assert_error(await client.get(f"{API}/sellers/me/offers"), 401, "not_authenticated")
