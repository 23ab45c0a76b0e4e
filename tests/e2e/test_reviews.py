"""Verified reviews over HTTP: only buyers who received the product, one each, edit and delete, sorting, the
histogram, operators hiding one, and the product's rating in search following within seconds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.workers import payments as payment_workers
from bazaar.workers.runner import run_all
from tests.catalog_builder import index_now
from tests.e2e.test_admin import new_admin
from tests.e2e.test_orders import order, place, seller_with_offers
from tests.helpers import API, new_user
from tests.inventory_factories import MadeOffer


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0, worker_poll_seconds=0.1)


async def deliver(client: httpx.AsyncClient, container: Container, seller: dict[str, str], order_id: str) -> None:
    await payment_workers.run_capture(container)
    lines = (await client.get(f"{API}/orders/{order_id}", headers=seller)).json()["lines"]
    shipped = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [li["id"] for li in lines], "carrier": "UPS", "tracking_number": "1Z999AA1"},
    )
    assert shipped.status_code == 201, shipped.text
    shipment_id = shipped.json()["id"]
    r = await client.post(f"{API}/shipments/{shipment_id}/events", headers=seller, json={"status": "delivered"})
    assert r.status_code == 200, r.text


async def received(client: httpx.AsyncClient, container: Container, seller: dict[str, str], offer: MadeOffer) -> Any:
    """A new buyer who ordered the offer and got it delivered."""
    _, buyer = await new_user(client, name="Grace Brewster Hopper")
    order_id = await place(client, buyer, (offer, 1), key=f"k-{id(buyer)}")
    await deliver(client, container, seller, order_id)
    return buyer


def review(rating: int, title: str = "Solid", body: str = "Does what it says.") -> dict[str, Any]:
    return {"rating": rating, "title": title, "body": body}


async def test_only_buyers_who_received_it_review_once(client: httpx.AsyncClient, container: Container) -> None:
    seller, _, (offer,) = await seller_with_offers(client, container, 20)
    url = f"{API}/products/{offer.product_id}/reviews"
    _, stranger = await new_user(client)
    r = await client.post(url, json=review(5), headers=stranger)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_verified_buyer"
    _, waiting = await new_user(client)
    await place(client, waiting, (offer, 1), key="waiting")  # ordered, not delivered yet
    assert (await client.post(url, json=review(5), headers=waiting)).status_code == 403
    assert (await client.post(url, json=review(5))).status_code == 401

    buyer = await received(client, container, seller, offer)
    bad = await client.post(url, json={"rating": 6, "title": "x", "body": ""}, headers=buyer)
    assert bad.status_code == 422
    r = await client.post(url, json=review(4, "Great kettle"), headers=buyer)
    assert r.status_code == 201, r.text
    written = r.json()
    assert written["verified"] and written["author"] == "Grace H." and written["rating"] == 4
    again = await client.post(url, json=review(1), headers=buyer)
    assert again.status_code == 409 and again.json()["error"]["code"] == "review_exists"
    listed = (await client.get(url)).json()
    assert listed["total"] == 1 and listed["items"][0]["title"] == "Great kettle"


async def test_rating_histogram_sorting_edit_delete_and_hide(client: httpx.AsyncClient, container: Container) -> None:
    seller, _, (offer,) = await seller_with_offers(client, container, 20)
    url = f"{API}/products/{offer.product_id}/reviews"
    buyers = [await received(client, container, seller, offer) for _ in range(3)]
    ids = []
    for buyer, rating in zip(buyers, (5, 2, 4), strict=True):
        r = await client.post(url, json=review(rating), headers=buyer)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    await index_now(container)
    page = (await client.get(f"{API}/products/{offer.product_id}")).json()
    assert page["rating"] == {
        "average": pytest.approx(11 / 3, abs=0.01),
        "count": 3,
        "histogram": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1},
    }
    high = (await client.get(url, params={"sort": "rating_high"})).json()["items"]
    low = (await client.get(url, params={"sort": "rating_low", "per_page": 2})).json()
    assert [i["rating"] for i in high] == [5, 4, 2] and [i["rating"] for i in low["items"]] == [2, 4]
    assert low["total"] == 3

    other = await client.patch(f"{API}/reviews/{ids[0]}", json={"rating": 1}, headers=buyers[1])
    assert other.status_code == 403
    edited = await client.patch(f"{API}/reviews/{ids[1]}", json={"rating": 3, "body": "Better now"}, headers=buyers[1])
    assert edited.status_code == 200 and edited.json()["rating"] == 3 and edited.json()["body"] == "Better now"
    assert (await client.delete(f"{API}/reviews/{ids[2]}", headers=buyers[2])).status_code == 204
    admin = await new_admin(client, container)
    assert (await client.post(f"{API}/admin/reviews/{ids[0]}/hide", headers=buyers[0])).status_code == 403
    hidden = await client.post(f"{API}/admin/reviews/{ids[0]}/hide", json={"reason": "spam"}, headers=admin)
    assert hidden.status_code == 200 and hidden.json()["status"] == "hidden"
    await index_now(container)
    page = (await client.get(f"{API}/products/{offer.product_id}")).json()
    assert page["rating"]["count"] == 1 and page["rating"]["average"] == 3.0
    assert [i["id"] for i in (await client.get(url)).json()["items"]] == [ids[1]]
    found = (await client.get(f"{API}/search", params={"q": offer.title})).json()["items"]
    assert found[0]["rating"] == 3.0 and found[0]["rating_count"] == 1


async def test_a_review_moves_the_rating_in_search_within_five_seconds(
    client: httpx.AsyncClient, container: Container
) -> None:
    """With the background workers running (as `bazaar serve` has them): review → event → rating → index."""
    seller, _, (offer,) = await seller_with_offers(client, container, 5)
    buyer = await received(client, container, seller, offer)
    stop = asyncio.Event()
    workers = asyncio.create_task(run_all(container, stop))
    try:
        await asyncio.sleep(1.0)  # the indexer starts and catches up
        r = await client.post(f"{API}/products/{offer.product_id}/reviews", json=review(2), headers=buyer)
        assert r.status_code == 201
        started = time.monotonic()
        seen = None
        while time.monotonic() - started < 5:
            items = (await client.get(f"{API}/search", params={"q": offer.title})).json()["items"]
            if items and items[0]["rating_count"] == 1:
                seen = items[0]
                break
            await asyncio.sleep(0.2)
        assert seen is not None and seen["rating"] == 2.0, "the rating did not reach search within 5 s"
    finally:
        stop.set()
        await asyncio.wait_for(workers, timeout=15)
    assert await order(client, buyer, (await client.get(f"{API}/orders", headers=buyer)).json()["items"][0]["id"])


async def test_storefront_write_a_review_from_the_order_page(client: httpx.AsyncClient, container: Container) -> None:
    from tests.e2e.test_storefront import post

    seller, _, (offer,) = await seller_with_offers(client, container, 5)
    buyer = await received(client, container, seller, offer)
    order_id = (await client.get(f"{API}/orders", headers=buyer)).json()["items"][0]["id"]
    html = (await client.get(f"/orders/{order_id}", headers=buyer)).text
    assert f'href="/p/{offer.product_id}/review"' in html
    form = await client.get(f"/p/{offer.product_id}/review", headers=buyer)
    assert form.status_code == 200 and "Write a review" in form.text
    r = await post(
        client, f"/p/{offer.product_id}/review", {"rating": "5", "title": "Lovely", "body": "Works <b>"}, headers=buyer
    )
    assert r.status_code == 303, r.text
    await index_now(container)
    page = (await client.get(f"/p/{offer.product_id}", headers=buyer)).text
    assert "Lovely" in page and "Works &lt;b&gt;" in page and "Verified purchase" in page and "Delete my review" in page
    assert f'href="/p/{offer.product_id}/review"' not in (await client.get(f"/orders/{order_id}", headers=buyer)).text
    _, stranger = await new_user(client)
    refused = await client.get(f"/p/{offer.product_id}/review", headers=stranger)
    assert refused.status_code == 303  # back to the product, with a notice
