"""Scheduled flash sales over HTTP: a seller schedules one, buyers see it coming with a countdown, it switches
live and ends on the clock, and the scheduler announces each change once; on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from bazaar.bootstrap import Container, build_container
from bazaar.db.outbox import OutboxEvent
from bazaar.flash_sales.models import FlashSale
from bazaar.kernel.clock import utcnow
from bazaar.workers.flash_sales import run_scheduler
from tests.catalog_builder import rebuild_index
from tests.e2e.test_accounts import assert_error
from tests.helpers import API, drain_events, new_seller, new_user
from tests.inventory_factories import MadeOffer, make_offer


def sale_body(offer_id: str, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    body = {
        "offer_id": offer_id,
        "price": {"amount": 999, "currency": "USD"},
        "units": 10,
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "per_buyer_limit": 2,
    }
    return {**body, **changes}


async def seller_offer(client: httpx.AsyncClient, container: Container, quantity: int = 50) -> tuple[MadeOffer, dict]:
    seller, headers = await new_seller(client)
    offer = await make_offer(container, quantity=quantity, seller_id=seller["id"], price=2999)
    return offer, headers


async def move_window(container: Container, sale_id: str, *, started: timedelta, ends: timedelta) -> None:
    """Shift a sale's window as if time had passed: it started `started` ago and ends in `ends`."""
    now = utcnow()
    async with container.uow() as uow:
        await uow.session.execute(
            update(FlashSale).where(FlashSale.id == sale_id).values(starts_at=now - started, ends_at=now + ends)
        )
        await uow.commit()
    container.flash_calendar.forget()


async def test_a_seller_schedules_a_sale_and_buyers_read_it(client: httpx.AsyncClient, container: Container) -> None:
    offer, headers = await seller_offer(client, container)
    r = await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)
    assert r.status_code == 201, r.text
    sale = r.json()
    assert sale["status"] == "scheduled"
    assert (sale["offer_id"], sale["product_id"], sale["units"], sale["units_left"]) == (
        offer.id,
        offer.product_id,
        10,
        10,
    )
    assert sale["price"] == {"amount": 999, "currency": "USD"} and sale["regular_price"]["amount"] == 2999
    assert 3500 < sale["seconds_to_start"] <= 3600

    r = await client.get(f"{API}/flash-sales/{sale['id']}")
    assert r.status_code == 200 and r.json()["id"] == sale["id"]
    assert {k: r.json()[k] for k in ("status", "units_left", "per_buyer_limit")} == {
        "status": "scheduled",
        "units_left": 10,
        "per_buyer_limit": 2,
    }
    listed = (await client.get(f"{API}/flash-sales", params={"product_id": offer.product_id})).json()
    assert [s["id"] for s in listed["items"]] == [sale["id"]]
    mine = (await client.get(f"{API}/sellers/me/flash-sales", headers=headers)).json()
    assert mine["total"] == 1
    assert_error(await client.get(f"{API}/flash-sales/nope"), 404, "flash_sale_not_found")


async def test_bad_sales_are_refused_and_change_nothing(client: httpx.AsyncClient, container: Container) -> None:
    offer, headers = await seller_offer(client, container, quantity=5)
    now = utcnow()
    url = f"{API}/sellers/me/flash-sales"
    past = sale_body(offer.id, starts_at=(now - timedelta(hours=1)).isoformat())
    assert_error(await client.post(url, json=past, headers=headers), 422, "invalid_flash_sale")
    backwards = sale_body(offer.id, ends_at=(now + timedelta(minutes=30)).isoformat())
    assert_error(await client.post(url, json=backwards, headers=headers), 422, "invalid_flash_sale")
    greedy = sale_body(offer.id, units=4, per_buyer_limit=5)
    assert_error(await client.post(url, json=greedy, headers=headers), 422, "invalid_flash_sale")
    for price in (2999, 3500):  # not below the offer's own 29.99: no sale at all
        dear = sale_body(offer.id, price={"amount": price, "currency": "USD"})
        answer = await client.post(url, json=dear, headers=headers)
        assert_error(answer, 422, "invalid_flash_sale")
        assert "below the offer's price of 2999" in answer.json()["error"]["message"]
    too_many = sale_body(offer.id, units=6)
    assert_error(await client.post(url, json=too_many, headers=headers), 409, "insufficient_stock")
    naive = sale_body(offer.id, starts_at="2030-01-01T10:00:00")
    assert_error(await client.post(url, json=naive, headers=headers), 422, "validation_error")
    assert_error(await client.post(url, json=sale_body(offer.id, units=0), headers=headers), 422, "validation_error")

    other, _ = await seller_offer(client, container)
    assert_error(await client.post(url, json=sale_body(other.id), headers=headers), 404, "offer_not_found")
    _, buyer = await new_user(client)
    assert_error(await client.post(url, json=sale_body(offer.id), headers=buyer), 403, "forbidden")
    assert (await client.get(f"{API}/sellers/me/flash-sales", headers=headers)).json()["total"] == 0

    assert (await client.post(url, json=sale_body(offer.id, units=5), headers=headers)).status_code == 201
    assert_error(
        await client.post(url, json=sale_body(offer.id, units=1, per_buyer_limit=1), headers=headers),
        409,
        "flash_sale_overlaps",
    )


async def test_the_sale_switches_live_and_ends_on_time_and_is_announced_once(
    client: httpx.AsyncClient, container: Container, settings_factory: Any
) -> None:
    offer, headers = await seller_offer(client, container)
    sale = (await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)).json()
    await move_window(container, sale["id"], started=timedelta(seconds=1), ends=timedelta(hours=1))
    assert (await client.get(f"{API}/flash-sales/{sale['id']}")).json()["status"] == "live"  # on the clock

    # Schedulers in two processes at once: each change is announced exactly once.
    other = build_container(settings_factory())
    try:
        moved = await asyncio.gather(*(run_scheduler(c) for c in (container, other, container)))
    finally:
        await other.close()
    assert sum(moved) == 1
    await move_window(container, sale["id"], started=timedelta(hours=1), ends=timedelta(seconds=-1))
    assert (await client.get(f"{API}/flash-sales/{sale['id']}")).json()["status"] == "ended"
    assert await run_scheduler(container) == 1
    assert await run_scheduler(container) == 0
    async with container.read_uow() as uow:
        topics = list(
            (await uow.session.execute(select(OutboxEvent.topic).where(OutboxEvent.key == offer.product_id))).scalars()
        )
    assert sorted(t for t in topics if t.startswith("flash_sales.")) == [
        "flash_sales.sale_ended.v1",
        "flash_sales.sale_scheduled.v1",
        "flash_sales.sale_started.v1",
    ]
    assert_error(
        await client.post(f"{API}/sellers/me/flash-sales/{sale['id']}/cancel", headers=headers),
        409,
        "flash_sale_not_cancellable",
    )


async def test_a_cancelled_sale_disappears(client: httpx.AsyncClient, container: Container) -> None:
    offer, headers = await seller_offer(client, container)
    sale = (await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)).json()
    _, other = await new_seller(client)
    assert_error(
        await client.post(f"{API}/sellers/me/flash-sales/{sale['id']}/cancel", headers=other),
        404,
        "flash_sale_not_found",
    )
    r = await client.post(f"{API}/sellers/me/flash-sales/{sale['id']}/cancel", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await client.get(f"{API}/flash-sales", params={"product_id": offer.product_id})).json()["items"] == []
    # The window is free again for a new sale.
    assert (
        await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)
    ).status_code == 201


async def test_pages_show_the_sale_with_a_countdown_then_live(client: httpx.AsyncClient, container: Container) -> None:
    offer, headers = await seller_offer(client, container)
    sale = (await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)).json()
    await rebuild_index(container)
    page = (await client.get(f"/p/{offer.product_id}", headers={"accept": "text/html"})).text
    assert "Flash sale coming" in page and "data-countdown-to" in page and "$9.99" in page
    assert "at most 2 per buyer" in page
    home = (await client.get("/", headers={"accept": "text/html"})).text
    assert "Flash sales" in home and offer.title in home
    results = (await client.get("/search", params={"q": offer.title})).text
    assert "Flash sale in" in results

    await move_window(container, sale["id"], started=timedelta(seconds=1), ends=timedelta(minutes=30))
    page = (await client.get(f"/p/{offer.product_id}")).text
    assert "Flash sale live" in page and "10 left" in page
    assert "Flash sale $9.99" in (await client.get("/search", params={"q": offer.title})).text
    await move_window(container, sale["id"], started=timedelta(hours=1), ends=timedelta(seconds=-1))
    assert "Flash sale" not in (await client.get(f"/p/{offer.product_id}")).text


async def test_the_product_page_shows_the_lower_price_once_the_seller_undercuts_the_sale(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Checkout charges the lower of the sale's and the offer's own price: the sale panel shows what a buyer pays."""
    offer, headers = await seller_offer(client, container)
    sale = (await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=headers)).json()
    await move_window(container, sale["id"], started=timedelta(seconds=1), ends=timedelta(minutes=30))
    before = (await client.get(f"/p/{offer.product_id}")).text
    assert '<p class="flash-price">$9.99 <s aria-label="was $29.99">' in before and "flash-undercut" not in before

    cheaper = {"price": {"amount": 800, "currency": "USD"}}
    r = await client.patch(f"{API}/sellers/me/offers/{offer.id}", json=cheaper, headers=headers)
    assert r.status_code == 200, r.text
    await drain_events(container)  # the price change busts the cached product page
    after = (await client.get(f"/p/{offer.product_id}")).text
    assert '<p class="flash-price">$8.00 · sold by' in after and "<s aria-label" not in after.split("flash-sale")[1]
    assert "buyers pay $8.00" in after and "Flash sale live" in after
