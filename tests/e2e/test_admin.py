"""The operator's API: only admins get in; suspending a seller and taking a product down reach search and
product pages through events; any order can be looked up and refunded as a goodwill gesture; every action
is in the audit trail. On both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bazaar.accounts.standing import grant_admin
from bazaar.bootstrap import Container
from bazaar.workers import payments as payment_workers
from tests.catalog_builder import api_offer, api_product, index_now, make_categories
from tests.e2e.test_orders import code_of, order, place, seller_with_offers
from tests.helpers import API, login, new_seller, new_user


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def new_admin(client: httpx.AsyncClient, container: Container) -> dict[str, str]:
    user, _ = await new_user(client)
    async with container.uow() as uow:
        await grant_admin(uow=uow, email=user["email"], sessions=container.sessions)
    return await login(client, user["email"])


async def listed_product(client: httpx.AsyncClient, container: Container, title: str) -> tuple[Any, ...]:
    categories = await make_categories(container)
    seller, seller_headers = await new_seller(client, display_name="Gadget Shop")
    product = await api_product(
        client, seller_headers, title=title, brand="Zorbex", category_id=categories["Headphones"]
    )
    offer = await api_offer(client, seller_headers, sku_id=product["skus"][0]["id"], price=4999)
    await index_now(container)
    return seller, seller_headers, product, offer


async def search_ids(client: httpx.AsyncClient, q: str) -> list[str]:
    r = await client.get(f"{API}/search", params={"q": q})
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


async def test_only_operators_get_in(client: httpx.AsyncClient, container: Container) -> None:
    _, buyer = await new_user(client)
    for headers in ({}, buyer):
        for method, path in (("GET", "/admin/sellers"), ("POST", "/admin/sellers/x/suspend"), ("GET", "/admin/orders")):
            r = await client.request(method, f"{API}{path}", headers=headers, json={"reason": "x"})
            assert code_of(r) == (403, "forbidden"), (method, path, r.text)
    admin = await new_admin(client, container)
    r = await client.get(f"{API}/admin/sellers", headers=admin)
    assert r.status_code == 200 and r.json()["total"] == 0
    me = await client.get(f"{API}/me", headers=admin)
    assert "admin" in me.json()["roles"]


async def test_suspension_hides_offers_blocks_listing_and_reinstatement_restores(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, seller_headers, product, offer = await listed_product(client, container, "Zorbex studio headphones")
    admin = await new_admin(client, container)
    assert await search_ids(client, "zorbex") == [product["id"]]

    r = await client.post(f"{API}/admin/sellers/{seller['id']}/suspend", json={"reason": "fake goods"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended" and r.json()["status_reason"] == "fake goods"
    await index_now(container)  # the events the worker delivers within a second
    page = (await client.get(f"{API}/products/{product['id']}")).json()
    assert page["offers"] == [] and page["best_offer"] is None
    hits = (await client.get(f"{API}/search", params={"q": "zorbex"})).json()["items"]
    assert all(not h["in_stock"] for h in hits)
    # the seller cannot list or change offers
    patch = await client.patch(
        f"{API}/sellers/me/offers/{offer['id']}",
        json={"price": {"amount": 1, "currency": "USD"}},
        headers=seller_headers,
    )
    assert code_of(patch) == (403, "seller_suspended")
    new = await client.post(
        f"{API}/sellers/me/offers",
        json={"sku_id": product["skus"][0]["id"], "price": {"amount": 10, "currency": "USD"}, "condition": "used",
              "quantity": 1},
        headers=seller_headers,
    )  # fmt: skip
    assert code_of(new) == (403, "seller_suspended")
    buckets = await client.put(
        f"{API}/sellers/me/offers/{offer['id']}/buckets", json={"buckets": 4}, headers=seller_headers
    )
    assert code_of(buckets) == (403, "seller_suspended")
    # a buyer cannot put it in a cart
    _, buyer = await new_user(client)
    cart = await client.post(f"{API}/cart/items", json={"offer_id": offer["id"], "quantity": 1}, headers=buyer)
    assert cart.status_code in (404, 409, 422), cart.text
    listed = (await client.get(f"{API}/admin/sellers", params={"status": "suspended"}, headers=admin)).json()
    assert [s["id"] for s in listed["items"]] == [seller["id"]]

    r = await client.post(f"{API}/admin/sellers/{seller['id']}/reinstate", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "active"
    await index_now(container)
    page = (await client.get(f"{API}/products/{product['id']}")).json()
    assert [o["id"] for o in page["offers"]] == [offer["id"]]
    trail = (await client.get(f"{API}/admin/audit", params={"target_id": seller["id"]}, headers=admin)).json()
    assert [a["action"] for a in trail["items"]] == ["seller.reinstate", "seller.suspend"]
    assert trail["items"][1]["reason"] == "fake goods" and trail["items"][1]["admin_email"]


async def test_takedown_answers_404_leaves_search_and_restore_brings_it_back(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, _, product, offer = await listed_product(client, container, "Zorbex travel speaker")
    admin = await new_admin(client, container)
    assert (await client.get(f"{API}/products/{product['id']}")).status_code == 200  # cached now
    bad = await client.post(f"{API}/admin/products/{product['id']}/takedown", json={"reason": " "}, headers=admin)
    assert bad.status_code == 422
    r = await client.post(f"{API}/admin/products/{product['id']}/takedown", json={"reason": "recall"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "taken_down"
    await index_now(container)
    assert code_of(await client.get(f"{API}/products/{product['id']}")) == (404, "product_not_found")
    assert await search_ids(client, "zorbex") == []
    _, buyer = await new_user(client)
    cart = await client.post(f"{API}/cart/items", json={"offer_id": offer["id"], "quantity": 1}, headers=buyer)
    assert cart.status_code in (404, 409, 422), cart.text
    unknown = await client.post(f"{API}/admin/products/nope/takedown", json={"reason": "x"}, headers=admin)
    assert unknown.status_code == 404

    r = await client.delete(f"{API}/admin/products/{product['id']}/takedown", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "active"
    await index_now(container)
    assert (await client.get(f"{API}/products/{product['id']}")).status_code == 200
    assert await search_ids(client, "zorbex") == [product["id"]]


async def test_any_order_and_a_goodwill_refund(client: httpx.AsyncClient, container: Container) -> None:
    _, seller_id, (a,) = await seller_with_offers(client, container, 5, price=2500)
    buyer_user, buyer = await new_user(client)
    order_id = await place(client, buyer, (a, 2))
    admin = await new_admin(client, container)
    seen = await client.get(f"{API}/admin/orders/{order_id}", headers=admin)
    assert seen.status_code == 200 and seen.json()["buyer"]["email"] == buyer_user["email"]
    listed = await client.get(f"{API}/admin/orders", params={"buyer": buyer_user["email"]}, headers=admin)
    assert [o["id"] for o in listed.json()["items"]] == [order_id]
    by_seller = await client.get(
        f"{API}/admin/orders", params={"seller": seller_id, "status": "pending"}, headers=admin
    )
    assert [o["id"] for o in by_seller.json()["items"]] == [order_id]

    early = await client.post(
        f"{API}/admin/orders/{order_id}/refund",
        json={"amount": {"amount": 500, "currency": "USD"}, "reason": "late"},
        headers=admin,
    )
    assert code_of(early) == (409, "refund_exceeds_captured")  # nothing captured yet
    assert await payment_workers.run_capture(container) >= 1
    total = (await order(client, buyer, order_id))["total"]["amount"]
    r = await client.post(
        f"{API}/admin/orders/{order_id}/refund",
        json={"amount": {"amount": 500, "currency": "USD"}, "reason": "arrived late"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "refunded" and r.json()["amount"]["amount"] == 500
    too_much = await client.post(
        f"{API}/admin/orders/{order_id}/refund",
        json={"amount": {"amount": total, "currency": "USD"}, "reason": "again"},
        headers=admin,
    )
    assert code_of(too_much) == (409, "refund_exceeds_captured")
    for bad in ({"amount": {"amount": 0, "currency": "USD"}, "reason": "x"}, {"amount": {"amount": 5}}):
        assert (await client.post(f"{API}/admin/orders/{order_id}/refund", json=bad, headers=admin)).status_code == 422
    seen_by_buyer = await order(client, buyer, order_id)
    assert seen_by_buyer["payment"]["refunded"]["amount"] == 500
    assert seen_by_buyer["payment"]["status"] == "partially_refunded"
    missing = await client.get(f"{API}/admin/orders/nope", headers=admin)
    assert missing.status_code == 404
