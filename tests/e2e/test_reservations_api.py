"""Stock holds and bucket counts over HTTP, and the inventory counters on /metrics."""

from __future__ import annotations

import asyncio

import httpx

from bazaar.bootstrap import Container
from bazaar.catalog.queries import product_page
from bazaar.catalog.schemas import OfferRead
from tests.e2e.test_accounts import assert_error
from tests.helpers import API, drain_events, new_seller, new_user
from tests.inventory_factories import levels, make_offer


async def test_hold_release_and_sold_out(client: httpx.AsyncClient, container: Container) -> None:
    offer = await make_offer(container, quantity=2)
    _, buyer = await new_user(client)
    _, other = await new_user(client)
    r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 2}, headers=buyer)
    assert r.status_code == 201, r.text
    held = r.json()
    assert (held["offer_id"], held["quantity"], held["status"]) == (offer.id, 2, "held")
    assert held["expires_at"].endswith("Z") or "+00:00" in held["expires_at"]

    r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1}, headers=other)
    err = assert_error(r, 409, "insufficient_stock")
    assert err["details"]["offers"][0]["offer_id"] == offer.id
    # Turned away by the sold-out flag before the token is even looked up in the database.
    r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1})
    assert_error(r, 409, "insufficient_stock")

    assert_error(
        await client.post(f"{API}/reservations/{held['id']}/release", headers=other), 404, "reservation_not_found"
    )
    for _ in range(2):
        r = await client.post(f"{API}/reservations/{held['id']}/release", headers=buyer)
        assert r.status_code == 200 and r.json()["status"] == "released"
    assert await levels(container, offer.id) == (2, 2)
    r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1}, headers=other)
    assert r.status_code == 201  # the release lifted the sold-out flag

    assert_error(
        await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1}), 401, "not_authenticated"
    )
    r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 0}, headers=buyer)
    assert_error(r, 422, "validation_error")

    metrics = (await client.get("/metrics")).text
    assert 'bazaar_reservations_total{outcome="made"}' in metrics
    assert 'bazaar_reservations_total{outcome="released"}' in metrics


async def test_a_seller_sets_the_bucket_count_of_their_own_offer(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, headers = await new_seller(client)
    offer = await make_offer(container, quantity=100, seller_id=seller["id"])
    r = await client.put(f"{API}/sellers/me/offers/{offer.id}/buckets", json={"buckets": 16}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "offer_id": offer.id,
        "buckets": 16,
        "quantity": 100,
        "available_quantity": 100,
        "availability": "in_stock",
    }
    assert await levels(container, offer.id) == (100, 100)

    _, rival = await new_seller(client, display_name="Rival Shop")
    r = await client.put(f"{API}/sellers/me/offers/{offer.id}/buckets", json={"buckets": 2}, headers=rival)
    assert_error(r, 404, "offer_not_found")
    _, buyer = await new_user(client)
    r = await client.put(f"{API}/sellers/me/offers/{offer.id}/buckets", json={"buckets": 2}, headers=buyer)
    assert_error(r, 403, "forbidden")
    r = await client.put(f"{API}/sellers/me/offers/{offer.id}/buckets", json={"buckets": 65}, headers=headers)
    assert_error(r, 422, "validation_error")


async def test_the_fast_path_and_the_route_answer_alike(client: httpx.AsyncClient, container: Container) -> None:
    """Plain bodies with a bearer token are answered before the router; everything else by the route."""
    offer = await make_offer(container, quantity=10, buckets=4)
    _, buyer = await new_user(client)
    url = f"{API}/reservations"
    fast = await client.post(url, json={"offer_id": offer.id, "quantity": 1}, headers=buyer)
    routed = await client.post(url, json={"offer_id": offer.id, "quantity": "1"}, headers=buyer)  # coerced by the route
    assert fast.status_code == routed.status_code == 201
    assert fast.json().keys() == routed.json().keys()
    assert {k: v for k, v in fast.json().items() if k not in ("id", "expires_at")} == {
        k: v for k, v in routed.json().items() if k not in ("id", "expires_at")
    }
    assert_error(
        await client.post(url, json={"offer_id": "nope", "quantity": 1}, headers=buyer), 404, "offer_not_found"
    )
    err = assert_error(
        await client.post(url, json={"offer_id": offer.id, "quantity": 9}, headers=buyer), 409, "insufficient_stock"
    )
    assert err["details"]["offers"] == [{"offer_id": offer.id, "requested": 9, "available": 8}]
    bad = {"Authorization": "Bearer not-a-token"}
    assert_error(
        await client.post(url, json={"offer_id": offer.id, "quantity": 1}, headers=bad), 401, "not_authenticated"
    )
    for body in (
        {"offer_id": offer.id, "quantity": 1, "extra": 1},
        {"offer_id": offer.id},
        [1],
        {"offer_id": "", "quantity": 1},
    ):
        assert_error(await client.post(url, json=body, headers=buyer), 422, "validation_error")
    r = await client.post(url, content=b"{not json", headers={**buyer, "Content-Type": "application/json"})
    assert_error(r, 422, "validation_error")
    assert await levels(container, offer.id) == (10, 8)
    assert 'route="/api/v1/reservations"' in (await client.get("/metrics")).text


async def test_a_rush_of_holds_counts_in_the_sellers_figures(client: httpx.AsyncClient, container: Container) -> None:
    seller, seller_headers = await new_seller(client)
    offer = await make_offer(container, quantity=30, buckets=4, seller_id=seller["id"])
    buyers = [(await new_user(client))[1] for _ in range(6)]
    body = {"offer_id": offer.id, "quantity": 2}
    answers = await asyncio.gather(*(client.post(f"{API}/reservations", json=body, headers=b) for b in buyers * 2))
    assert [r.status_code for r in answers] == [201] * 12
    await drain_events(container)
    stats = (await client.get(f"{API}/sellers/me/stats", headers=seller_headers)).json()
    assert stats["reservations"] == 12
    assert await levels(container, offer.id) == (30, 6)


async def test_the_product_page_counts_units_over_every_bucket(client: httpx.AsyncClient, container: Container) -> None:
    """An offer spread over buckets shows what is left in all of them together, and its label follows.

    Read from the database: a hold that leaves units in its bucket does not bust the cached page (it may
    lag by its TTL), so the query is asked directly, as a refresh of the page would ask it.
    """
    offer = await make_offer(container, quantity=10, buckets=4)
    _, buyer = await new_user(client)

    async def page_offer() -> tuple[OfferRead, OfferRead | None]:
        async with container.read_uow() as uow:
            page = await product_page(uow=uow, product_id=offer.product_id)
        (only,) = page.offers
        return only, page.best_offer

    shown, best = await page_offer()
    assert (shown.available_quantity, shown.availability, best) == (10, "in_stock", shown)
    for quantity in (3, 2):
        r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": quantity}, headers=buyer)
        assert r.status_code == 201, r.text
    shown, best = await page_offer()
    assert (shown.available_quantity, shown.availability, best) == (5, "low_stock", shown)
    r = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 5}, headers=buyer)
    assert r.status_code == 201, r.text
    shown, best = await page_offer()
    assert (shown.available_quantity, shown.availability, best) == (0, "out_of_stock", None)
