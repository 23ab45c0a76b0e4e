"""The waiting room over HTTP and through the admitter: first come, first served, positions that move, leaving
and timing out free the place, tickets survive a web process restart, and the storefront takes an admitted
buyer from the queue to a placed order; on both backends (the database queue and Redis)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from bazaar.bootstrap import Container, build_container
from bazaar.catalog.models import Offer
from bazaar.flash_sales import queue
from bazaar.kernel.clock import utcnow
from bazaar.settings import Settings
from bazaar.workers.flash_sales import run_admitter
from tests.e2e.test_accounts import assert_error
from tests.e2e.test_flash_sale_holds import live_sale, me
from tests.helpers import API, drain_events, new_user


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def join(client: httpx.AsyncClient, sale_id: str, headers: dict[str, str]) -> dict:
    r = await client.post(f"{API}/flash-sales/{sale_id}/queue", headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def look(client: httpx.AsyncClient, sale_id: str, ticket: str, headers: dict[str, str]) -> dict:
    r = await client.get(f"{API}/flash-sales/{sale_id}/queue/{ticket}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_first_come_first_served_with_positions_that_move(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer, sale = await live_sale(client, container, units=2, per_buyer_limit=1)
    buyers = [(await new_user(client))[1] for _ in range(5)]
    tickets = [await join(client, sale["id"], b) for b in buyers]
    assert [t["position"] for t in tickets] == [1, 2, 3, 4, 5]
    assert all(t["status"] == "waiting" and t["estimated_wait_seconds"] >= 0 for t in tickets)
    assert (await join(client, sale["id"], buyers[1]))["ticket"] == tickets[1]["ticket"]  # another device, same place
    assert_error(await client.get(f"{API}/flash-sales/{sale['id']}/queue/{tickets[0]['ticket']}", headers=buyers[1]),
                 404, "ticket_not_found")  # fmt: skip

    # The second in line leaves: everyone behind moves up.
    r = await client.delete(f"{API}/flash-sales/{sale['id']}/queue/{tickets[1]['ticket']}", headers=buyers[1])
    assert r.status_code == 204
    assert (await look(client, sale["id"], tickets[2]["ticket"], buyers[2]))["position"] == 2
    assert (await look(client, sale["id"], tickets[1]["ticket"], buyers[1]))["status"] == "expired"

    # Two units, one per buyer: the admitter lets the first two still waiting in, in arrival order.
    assert await run_admitter(container) == 2
    first = await look(client, sale["id"], tickets[0]["ticket"], buyers[0])
    third = await look(client, sale["id"], tickets[2]["ticket"], buyers[2])
    assert first["status"] == third["status"] == "admitted" and first["admission_token"] and first["position"] == 0
    assert (await look(client, sale["id"], tickets[3]["ticket"], buyers[3]))["position"] == 1
    assert await run_admitter(container) == 0  # nobody more until units come back

    hold = {"offer_id": offer.id, "quantity": 1, "admission_token": first["admission_token"]}
    assert (await client.post(f"{API}/reservations", json=hold, headers=buyers[0])).status_code == 201
    # A token is the buyer's own.
    assert_error(await client.post(f"{API}/reservations", json=hold, headers=buyers[2]), 403, "admission_invalid")


async def test_timeouts_free_places_and_lapsed_admissions_let_the_next_in(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer, sale = await live_sale(client, container, units=1, per_buyer_limit=1)
    buyers = [(await new_user(client))[1] for _ in range(3)]
    tickets = [await join(client, sale["id"], b) for b in buyers]
    room, t0 = container.waiting_room, utcnow()
    window, idle = timedelta(seconds=120), timedelta(seconds=60)
    # The first buyer is let in but never holds.
    [admitted] = await room.admit(sale["id"], 1, now=t0, until=t0 + window, idle_before=t0 - idle)
    assert admitted.ticket_id == tickets[0]["ticket"]
    # The third keeps polling; the second stopped polling when they joined.
    await room.look(sale["id"], tickets[2]["ticket"], now=t0 + timedelta(seconds=150))
    later = t0 + timedelta(seconds=200)
    let_in = await room.admit(sale["id"], 1, now=later, until=later + window, idle_before=later - idle)
    assert [p.ticket_id for p in let_in] == [tickets[2]["ticket"]]  # the first's window lapsed, its unit is free
    assert (await look(client, sale["id"], tickets[1]["ticket"], buyers[1]))["status"] == "expired"
    counts = await room.counts(sale["id"], now=later)
    assert counts.lapsed == 1 and counts.admitted == 2 and counts.used == 0
    assert queue.conversion(counts) == 0.0


async def test_tickets_survive_a_web_process_restart(
    client: httpx.AsyncClient, container: Container, settings: Settings
) -> None:
    _, sale = await live_sale(client, container, units=5, per_buyer_limit=1)
    buyers = [(await new_user(client))[1] for _ in range(3)]
    tickets = [await join(client, sale["id"], b) for b in buyers]
    restarted = build_container(settings)  # another process's view: nothing kept in memory
    try:
        place = await restarted.waiting_room.look(sale["id"], tickets[2]["ticket"], now=utcnow())
        assert place is not None and place.position == 3 and place.status == "waiting"
    finally:
        await restarted.close()


async def test_joining_needs_a_live_sale_and_a_login(client: httpx.AsyncClient, container: Container) -> None:
    from tests.e2e.test_flash_sales import sale_body, seller_offer

    offer, seller = await seller_offer(client, container)
    sale = (await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id), headers=seller)).json()
    _, buyer = await new_user(client)
    assert_error(await client.post(f"{API}/flash-sales/{sale['id']}/queue", headers=buyer), 409, "flash_sale_not_live")
    assert_error(await client.post(f"{API}/flash-sales/{sale['id']}/queue"), 401, "not_authenticated")
    assert_error(await client.post(f"{API}/flash-sales/nope/queue", headers=buyer), 404, "flash_sale_not_found")


async def test_the_storefront_takes_an_admitted_buyer_from_the_queue_to_an_order(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer, sale = await live_sale(client, container, units=3, per_buyer_limit=2)
    user, headers = await new_user(client)
    token = headers["Authorization"].split()[1]
    client.cookies.set("bazaar_session", token)
    page = (await client.get(f"/p/{offer.product_id}")).text
    assert "Join the queue" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = await client.post(f"/flash/{sale['id']}/join", data={"csrf_token": csrf})
    assert r.status_code == 303 and "/queue/" in r.headers["location"]
    waiting = await client.get(r.headers["location"])
    assert "Your position" in waiting.text and 'hx-trigger="every 2s"' in waiting.text
    assert waiting.headers.get("refresh")

    await run_admitter(container)
    fragment = (await client.get(r.headers["location"] + "/status")).text
    assert "It is your turn" in fragment and "hx-trigger" not in fragment
    admission = re.search(r'name="admission_token" value="([^"]+)"', fragment).group(1)  # type: ignore[union-attr]
    ticket = r.headers["location"].rsplit("/", 1)[1]
    held = await client.post(
        f"/flash/{sale['id']}/hold",
        data={"csrf_token": csrf, "admission_token": admission, "ticket": ticket, "quantity": "2"},
    )
    assert held.status_code == 303 and held.headers["location"] == f"/flash/{sale['id']}/checkout"
    form = (await client.get(held.headers["location"])).text
    assert 'id="held-units">2<' in form and "at the flash price of $9.99 each" in form
    async with container.uow() as uow:  # the seller lowers the offer under the sale's price while the buyer holds
        await uow.session.execute(update(Offer).where(Offer.id == offer.id).values(price_amount=800))
        await uow.commit()
    form = (await client.get(held.headers["location"])).text
    assert "at $8.00 each: the seller's own price, now below the flash price of $9.99" in form
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    placed = await client.post(
        f"/flash/{sale['id']}/checkout",
        data={
            "csrf_token": csrf, "idempotency_key": key, "address_id": "new", "name": "Ada", "line1": "1 Main St",
            "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US", "shipping_method": "standard",
            "card_number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123",
        },
    )  # fmt: skip
    assert placed.status_code == 303 and placed.headers["location"].startswith("/checkout/"), placed.text[:500]
    await drain_events(container)
    assert (await client.get(f"{API}/flash-sales/{sale['id']}")).json()["units_sold"] == 2
    assert user["id"] == await me(client, headers)
