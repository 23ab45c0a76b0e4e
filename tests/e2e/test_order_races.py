"""Returns, receipts and cancellations racing each other: every path locks the order, its lines and the return
it changes, so stock comes back exactly once and a duplicate answers 409, never 500 (issue 14, finding 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bazaar.orders.models import Order, Return, ReturnLine
from bazaar.orders.service import add_to_directory
from bazaar.workers import payments as payment_workers
from tests.e2e.test_orders import code_of, order, place, seller_with_offers
from tests.helpers import API, new_user
from tests.inventory_factories import levels


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0, db_pool_size=12)


async def delivered_order(
    client: httpx.AsyncClient, container: Any, quantity: int, stock: int = 50
) -> tuple[dict[str, str], dict[str, str], str, dict[str, Any], str]:
    """A buyer's delivered order of `quantity` units of one offer: (seller, buyer, order id, line, offer id)."""
    seller, _, (offer,) = await seller_with_offers(client, container, stock)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (offer, quantity))
    line = (await order(client, buyer, order_id))["lines"][0]
    assert await payment_workers.run_capture(container) >= 1
    shipment = await client.post(
        f"{API}/sellers/me/orders/{order_id}/shipments",
        headers=seller,
        json={"line_ids": [line["id"]], "carrier": "UPS", "tracking_number": "1Z0001"},
    )
    assert shipment.status_code == 201, shipment.text
    done = await client.post(
        f"{API}/shipments/{shipment.json()['id']}/events", headers=seller, json={"status": "delivered"}
    )
    assert done.status_code == 200, done.text
    return seller, buyer, order_id, line, offer.id


def return_body(line: dict[str, Any], quantity: int) -> dict[str, Any]:
    return {"lines": [{"order_line_id": line["id"], "quantity": quantity}], "reason": "changed my mind"}


async def test_six_parallel_returns_of_a_two_unit_line_return_two_units(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, container, pg_only
) -> None:
    seller, buyer, order_id, line, offer_id = await delivered_order(client, container, 2)
    on_shelf = await levels(container, offer_id)
    asks = await asyncio.gather(
        *(client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json=return_body(line, 2)) for _ in range(6))
    )
    assert sorted(r.status_code for r in asks) == [201, 409, 409, 409, 409, 409], [r.text for r in asks]
    assert {code_of(r) for r in asks if r.status_code == 409} == {(409, "not_returnable")}
    async with container.uow() as uow:
        units = (await uow.session.execute(select(ReturnLine.quantity))).scalars().all()
    assert sum(units) == 2
    # the seller's receipts race too: one restocks and refunds, the others answer 409
    return_id = next(r.json()["id"] for r in asks if r.status_code == 201)
    receipts = await asyncio.gather(
        *(client.post(f"{API}/sellers/me/returns/{return_id}/receive", headers=seller) for _ in range(6))
    )
    assert sorted(r.status_code for r in receipts) == [200, 409, 409, 409, 409, 409], [r.text for r in receipts]
    assert await levels(container, offer_id) == (on_shelf[0] + 2, on_shelf[1] + 2)
    after = await order(client, buyer, order_id)
    assert after["lines"][0]["returned_quantity"] == 2 and after["status"] == "returned"
    assert after["payment"]["refunded"] == after["payment"]["captured"]


async def test_parallel_receipts_of_separate_returns_restock_each_unit_once(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, container, pg_only
) -> None:
    seller, buyer, order_id, line, offer_id = await delivered_order(client, container, 3)
    on_shelf = await levels(container, offer_id)
    returns = []
    for _ in range(3):
        r = await client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json=return_body(line, 1))
        assert r.status_code == 201, r.text
        returns.append(r.json()["id"])
    receipts = await asyncio.gather(
        *(client.post(f"{API}/sellers/me/returns/{rid}/receive", headers=seller) for rid in returns for _ in range(3))
    )
    assert sorted(r.status_code for r in receipts) == [200] * 3 + [409] * 6, [r.text for r in receipts]
    assert await levels(container, offer_id) == (on_shelf[0] + 3, on_shelf[1] + 3)
    after = await order(client, buyer, order_id)
    assert after["lines"][0]["returned_quantity"] == 3
    assert after["payment"]["refunded"] == after["payment"]["captured"]


async def test_a_return_beyond_the_line_is_refused_on_receipt_with_409(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    """Returns recorded for more units than the line has (the race's leftovers) are refused, one at a time too."""
    seller, buyer, order_id, line, offer_id = await delivered_order(client, container, 2)
    first = await client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json=return_body(line, 2))
    assert first.status_code == 201
    async with container.uow() as uow:  # a phantom duplicate, as the old race left behind
        buyer_id = (await uow.session.execute(select(Order.user_id).where(Order.id == order_id))).scalar_one()
        ghost = Return(order_id=order_id, user_id=buyer_id, seller_id=line["seller_id"], reason="x")
        uow.session.add(ghost)
        await uow.flush()
        add_to_directory(uow, any_id=ghost.id, user_id=buyer_id, order_id=order_id)
        uow.session.add(ReturnLine(return_id=ghost.id, order_line_id=line["id"], user_id=buyer_id, quantity=2))
        await uow.commit()
        ghost_id = ghost.id
    on_shelf = await levels(container, offer_id)
    ok = await client.post(f"{API}/sellers/me/returns/{first.json()['id']}/receive", headers=seller)
    assert ok.status_code == 200, ok.text
    dup = await client.post(f"{API}/sellers/me/returns/{ghost_id}/receive", headers=seller)
    assert code_of(dup) == (409, "return_exceeds_order_line"), dup.text
    assert await levels(container, offer_id) == (on_shelf[0] + 2, on_shelf[1] + 2)
    again = await client.post(f"{API}/sellers/me/returns/{first.json()['id']}/receive", headers=seller)
    assert code_of(again) == (409, "return_not_receivable")


async def test_parallel_cancellations_restock_once(client: httpx.AsyncClient, container, pg_only) -> None:  # type: ignore[no-untyped-def]
    _, _, (offer,) = await seller_with_offers(client, container, 10)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (offer, 4))
    assert await levels(container, offer.id) == (6, 6)
    answers = await asyncio.gather(*(client.post(f"{API}/orders/{order_id}/cancel", headers=buyer) for _ in range(6)))
    assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
    assert await levels(container, offer.id) == (10, 10)


async def test_parallel_shipments_of_one_line_ship_it_once_and_race_a_cancellation(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, container, pg_only
) -> None:
    """Shipping finds the order through the sellers' index and locks the order, then its lines, as cancelling does:
    six shipments of one line at once make one shipment; a cancellation racing shipments ends one way or the
    other, never shipped and cancelled (restocked) both."""
    seller, _, (offer,) = await seller_with_offers(client, container, 10)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (offer, 2))
    line = (await order(client, buyer, order_id))["lines"][0]
    assert await payment_workers.run_capture(container) >= 1
    ship = {"line_ids": [line["id"]], "carrier": "UPS", "tracking_number": "1Z-RACE"}
    url = f"{API}/sellers/me/orders/{order_id}/shipments"
    tries = await asyncio.gather(*(client.post(url, headers=seller, json=ship) for _ in range(6)))
    assert sorted(r.status_code for r in tries) == [201, 409, 409, 409, 409, 409], [r.text for r in tries]
    shipped = await order(client, buyer, order_id)
    assert len(shipped["shipments"]) == 1 and shipped["lines"][0]["shipped_quantity"] == 2
    assert shipped["status"] == "shipped"

    _, other = await new_user(client)
    raced = await place(client, other, (offer, 3), key="race-2")
    raced_line = (await order(client, other, raced))["lines"][0]
    assert await payment_workers.run_capture(container) >= 1
    on_shelf = await levels(container, offer.id)
    ship_raced = {**ship, "line_ids": [raced_line["id"]]}
    answers = await asyncio.gather(
        client.post(f"{API}/orders/{raced}/cancel", headers=other),
        *(client.post(f"{API}/sellers/me/orders/{raced}/shipments", headers=seller, json=ship_raced) for _ in range(3)),
    )
    cancel, *ships = answers
    final = await order(client, other, raced)
    if cancel.status_code == 200:
        assert final["status"] == "cancelled" and final["shipments"] == []
        assert all(code_of(r) == (409, "not_shippable") for r in ships), [r.text for r in ships]
        assert await levels(container, offer.id) == (on_shelf[0] + 3, on_shelf[1] + 3)
    else:
        assert code_of(cancel) == (409, "not_cancellable") and final["status"] == "shipped"
        assert sorted(r.status_code for r in ships) == [201, 409, 409] and len(final["shipments"]) == 1
        assert await levels(container, offer.id) == on_shelf


async def test_delivery_times_are_bounded_and_other_sellers_get_404(client: httpx.AsyncClient, container) -> None:  # type: ignore[no-untyped-def]
    """Findings 8 and 19: a seller backdated a delivery (closing the return window) or dated it in year 9999;
    another seller learned a shipment existed from a 403."""
    seller, _, (offer,) = await seller_with_offers(client, container, 5)
    _, buyer = await new_user(client)
    order_id = await place(client, buyer, (offer, 1))
    line = (await order(client, buyer, order_id))["lines"][0]
    await payment_workers.run_capture(container)
    shipment = (
        await client.post(
            f"{API}/sellers/me/orders/{order_id}/shipments",
            headers=seller,
            json={"line_ids": [line["id"]], "carrier": "UPS", "tracking_number": "1Z0009"},
        )
    ).json()
    url = f"{API}/shipments/{shipment['id']}/events"
    for at in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2020-01-01T00:00:00Z", "2999-01-01T00:00:00"):
        r = await client.post(url, headers=seller, json={"status": "delivered", "at": at})
        assert code_of(r) == (422, "invalid_event_time"), r.text
    other_seller, _, _ = await seller_with_offers(client, container, 1)
    assert code_of(await client.post(url, headers=other_seller, json={"status": "in_transit"})) == (404, "not_found")
    assert code_of(await client.post(url, headers=buyer, json={"status": "in_transit"})) == (404, "not_found")
    assert (await order(client, buyer, order_id))["status"] == "shipped"
    ok = await client.post(url, headers=seller, json={"status": "delivered"})
    assert ok.status_code == 200, ok.text
    ask = await client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json=return_body(line, 1))
    assert ask.status_code == 201, ask.text
