"""Holding and buying through a live flash sale over HTTP: only with an admission, within the buyer's limit
and the sale's units, at the sale price, and returned when a hold lapses; on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.flash_sales import tokens
from bazaar.flash_sales.calendar import SaleCalendar
from bazaar.kernel.clock import utcnow
from tests.e2e.test_accounts import assert_error
from tests.e2e.test_checkout import body
from tests.e2e.test_flash_sales import move_window, sale_body, seller_offer
from tests.helpers import API, drain_events, new_user
from tests.inventory_factories import levels


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await client.get(f"{API}/me", headers=headers)).json()["id"])


def admit(container: Container, sale_id: str, buyer_id: str, seconds: int = 60) -> str:
    """An admission as the queue would hand it out."""
    until = utcnow() + timedelta(seconds=seconds)
    return tokens.issue(container.settings.secret_key, tokens.Admission(sale_id, "ticket", buyer_id, until))


async def live_sale(client: httpx.AsyncClient, container: Container, **changes: Any) -> tuple[Any, dict[str, Any]]:
    offer, seller = await seller_offer(client, container, quantity=20)
    r = await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id, **changes), headers=seller)
    assert r.status_code == 201, r.text
    sale = r.json()
    await move_window(container, sale["id"], started=timedelta(seconds=1), ends=timedelta(minutes=30))
    return offer, sale


async def test_holds_need_an_admission_and_respect_the_limit(client: httpx.AsyncClient, container: Container) -> None:
    offer, sale = await live_sale(client, container, units=3, per_buyer_limit=2)
    _, buyer = await new_user(client)
    buyer_id = await me(client, buyer)
    # Without an admission: refused, by the fast path (plain body) and the documented route alike.
    plain = {"offer_id": offer.id, "quantity": 1}
    assert_error(await client.post(f"{API}/reservations", json=plain, headers=buyer), 409, "admission_required")
    r = await client.post(f"{API}/reservations", content=b'{"quantity": 1, "offer_id": "%s"}' % offer.id.encode(),
                          headers={**buyer, "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 409

    token = admit(container, sale["id"], buyer_id)
    held = await client.post(f"{API}/reservations", json={**plain, "admission_token": token}, headers=buyer)
    assert held.status_code == 201, held.text
    hold = held.json()
    assert hold["status"] == "held"
    seconds = (datetime.fromisoformat(hold["expires_at"]) - utcnow()).total_seconds()
    assert 0 < seconds <= container.settings.flash_hold_ttl_seconds  # short holds during a sale
    two = {**plain, "quantity": 2, "admission_token": token}
    err = assert_error(
        await client.post(f"{API}/reservations", json=two, headers=buyer), 409, "per_buyer_limit_reached"
    )
    assert err["details"] == {"limit": 2, "holding": 1, "requested": 2}
    assert (
        await client.post(f"{API}/reservations", json={**plain, "admission_token": token}, headers=buyer)
    ).status_code == 201

    # Someone else's token, a forged one, a late one.
    _, other = await new_user(client)
    other_id = await me(client, other)
    assert_error(
        await client.post(f"{API}/reservations", json={**plain, "admission_token": token}, headers=other),
        403,
        "admission_invalid",
    )
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_error(
        await client.post(f"{API}/reservations", json={**plain, "admission_token": forged}, headers=buyer),
        403,
        "admission_invalid",
    )
    late = admit(container, sale["id"], other_id, seconds=-1)
    assert_error(
        await client.post(f"{API}/reservations", json={**plain, "admission_token": late}, headers=other),
        409,
        "admission_expired",
    )
    # The sale has one unit left; two for another buyer is more than that.
    token2 = admit(container, sale["id"], other_id)
    assert_error(
        await client.post(f"{API}/reservations", json={**two, "admission_token": token2}, headers=other),
        409,
        "flash_sale_sold_out",
    )
    assert (await client.get(f"{API}/flash-sales/{sale['id']}")).json()["units_left"] == 1
    assert await levels(container, offer.id) == (20, 18)

    # A released hold gives the sale its unit back and the buyer their share.
    r = await client.post(f"{API}/reservations/{hold['id']}/release", headers=buyer)
    assert r.status_code == 200
    await drain_events(container)
    assert (await client.get(f"{API}/flash-sales/{sale['id']}")).json()["units_left"] == 2
    assert (
        await client.post(f"{API}/reservations", json={**plain, "admission_token": token}, headers=buyer)
    ).status_code == 201


async def test_the_product_page_counts_a_hold_at_once(client: httpx.AsyncClient, container: Container) -> None:
    """Pages read sales from a calendar each process re-reads about once a second; a hold the process makes moves
    its count at once, so the buyer's next page shows their units gone, not the count from before their hold."""
    container.flash_calendar = SaleCalendar(container.read_uow, refresh_seconds=3600)  # no re-read in this test
    offer, sale = await live_sale(client, container, units=3, per_buyer_limit=2)
    assert "3 left" in (await client.get(f"/p/{offer.product_id}")).text
    _, buyer = await new_user(client)
    token = admit(container, sale["id"], await me(client, buyer))
    hold = {"offer_id": offer.id, "quantity": 2, "admission_token": token}
    assert (await client.post(f"{API}/reservations", json=hold, headers=buyer)).status_code == 201
    assert "1 left" in (await client.get(f"/p/{offer.product_id}")).text
    # A refused hold (over the buyer's limit) moves nothing.
    refused = await client.post(f"{API}/reservations", json={**hold, "quantity": 1}, headers=buyer)
    assert_error(refused, 409, "per_buyer_limit_reached")
    assert "1 left" in (await client.get(f"/p/{offer.product_id}")).text


async def test_an_admitted_buyer_checks_out_at_the_sale_price(client: httpx.AsyncClient, container: Container) -> None:
    offer, sale = await live_sale(client, container, units=5, per_buyer_limit=2)
    _, buyer = await new_user(client)
    token = admit(container, sale["id"], await me(client, buyer))
    for _ in range(2):  # in two goes: the checkout takes both holds
        r = await client.post(
            f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1, "admission_token": token}, headers=buyer
        )
        assert r.status_code == 201, r.text

    # The offer in a cart cannot be checked out past the queue while the sale is on.
    _, rival = await new_user(client)
    assert (
        await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1}, headers=rival)
    ).status_code == 200
    r = await client.post(f"{API}/checkout", json=body(), headers={**rival, "Idempotency-Key": "r1"})
    assert_error(r, 409, "admission_required")

    r = await client.post(
        f"{API}/checkout", json={**body(), "flash_sale_id": sale["id"]}, headers={**buyer, "Idempotency-Key": "f1"}
    )
    assert r.status_code == 201, r.text
    order = (await client.get(f"{API}/orders/{r.json()['order_id']}", headers=buyer)).json()
    [line] = order["lines"]
    assert (line["offer_id"], line["quantity"], line["unit_price"]["amount"]) == (offer.id, 2, 999)
    assert await levels(container, offer.id) == (18, 18)
    await drain_events(container)
    read = (await client.get(f"{API}/flash-sales/{sale['id']}")).json()
    assert (read["units_sold"], read["units_left"]) == (2, 3)
    # Bought units count towards the limit; a second checkout finds nothing held.
    err = await client.post(
        f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1, "admission_token": token}, headers=buyer
    )
    assert_error(err, 409, "per_buyer_limit_reached")
    again = await client.post(
        f"{API}/checkout", json={**body(), "flash_sale_id": sale["id"]}, headers={**buyer, "Idempotency-Key": "f2"}
    )
    assert_error(again, 409, "no_flash_sale_hold")


async def test_a_buyer_never_pays_more_than_the_offer_costs_at_checkout(
    client: httpx.AsyncClient, container: Container
) -> None:
    """The seller lowers the offer under the sale's price while a buyer holds through the sale: the buyer pays the
    lower price."""
    offer, seller = await seller_offer(client, container, quantity=20)  # 29.99
    r = await client.post(f"{API}/sellers/me/flash-sales", json=sale_body(offer.id, units=5), headers=seller)
    sale = r.json()  # 9.99
    await move_window(container, sale["id"], started=timedelta(seconds=1), ends=timedelta(minutes=30))
    _, buyer = await new_user(client)
    token = admit(container, sale["id"], await me(client, buyer))
    r = await client.post(
        f"{API}/reservations", json={"offer_id": offer.id, "quantity": 2, "admission_token": token}, headers=buyer
    )
    assert r.status_code == 201, r.text
    cheaper = {"price": {"amount": 800, "currency": "USD"}}
    r = await client.patch(f"{API}/sellers/me/offers/{offer.id}", json=cheaper, headers=seller)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"{API}/checkout", json={**body(), "flash_sale_id": sale["id"]}, headers={**buyer, "Idempotency-Key": "low"}
    )
    assert r.status_code == 201, r.text
    order = (await client.get(f"{API}/orders/{r.json()['order_id']}", headers=buyer)).json()
    [line] = order["lines"]
    assert (line["quantity"], line["unit_price"]["amount"]) == (2, 800)


async def test_a_sale_hold_sold_as_an_earlier_version_told_it_counts_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    """An earlier version told of each sold hold alone (`reservation_committed.v1`); such an event left in the
    stream when the new version starts still counts the sale hold sold, once."""
    from bazaar.inventory.events import ReservationCommitted

    offer, sale = await live_sale(client, container, units=5, per_buyer_limit=2)
    _, buyer = await new_user(client)
    token = admit(container, sale["id"], await me(client, buyer))
    r = await client.post(
        f"{API}/reservations", json={"offer_id": offer.id, "quantity": 2, "admission_token": token}, headers=buyer
    )
    assert r.status_code == 201, r.text
    for _ in range(2):  # told twice (a redelivery under a new id): the hold is sold once
        async with container.uow() as uow:
            uow.emit(ReservationCommitted(r.json()["id"], offer.id, offer.seller_id, 2))
            await uow.commit()
        await drain_events(container)
    assert (await client.get(f"{API}/flash-sales/{sale['id']}")).json()["units_sold"] == 2
