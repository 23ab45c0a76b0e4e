"""Hold limits as policy (issue 14, finding 1): one buyer can hold at most so many units at once, overall and per
offer, whatever they send at once; holds are rate limited; nobody holds stock without logging in or checking out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bazaar.bootstrap import Container
from bazaar.inventory.models import BuyerHolds, Reservation
from bazaar.inventory.service import expire_due
from bazaar.kernel.clock import utcnow
from tests.e2e.test_accounts import assert_error
from tests.e2e.test_checkout import buyer_with_cart, checkout
from tests.helpers import API, new_user
from tests.inventory_factories import levels, make_offer

PER_BUYER, PER_OFFER = 10, 4


@pytest.fixture
def settings(settings_factory: Any) -> Any:
    return settings_factory(
        hold_max_units_per_buyer=PER_BUYER, hold_max_units_per_offer=PER_OFFER, hold_limit_per_minute=1000
    )


async def held_by(container: Container, user_id: str) -> tuple[int, dict[str, int]]:
    """What the buyer's held reservations add up to: (units, {offer_id: units}); also checks the counter row."""
    async with container.read_uow() as uow:
        rows = (
            await uow.session.execute(
                select(Reservation.offer_id, func.sum(Reservation.quantity))
                .where(Reservation.user_id == user_id, Reservation.status == "held")
                .group_by(Reservation.offer_id)
            )
        ).all()
        counter = await uow.session.get(BuyerHolds, user_id)
    by_offer = {o: int(q) for o, q in rows}
    units = sum(by_offer.values())
    assert (counter.units if counter else 0) == units and dict(counter.offers if counter else {}) == by_offer
    return units, by_offer


async def hold(client: httpx.AsyncClient, headers: dict[str, str], offer_id: str, quantity: int) -> httpx.Response:
    return await client.post(f"{API}/reservations", json={"offer_id": offer_id, "quantity": quantity}, headers=headers)


async def test_a_buyer_holds_at_most_the_caps_and_gets_them_back(
    client: httpx.AsyncClient, container: Container
) -> None:
    offers = [await make_offer(container, quantity=100) for _ in range(4)]
    user, buyer = await new_user(client)
    assert (await hold(client, buyer, offers[0].id, PER_OFFER)).status_code == 201
    over = assert_error(await hold(client, buyer, offers[0].id, 1), 409, "hold_limit_exceeded")
    assert over["details"] == {"offer_id": offers[0].id, "limit": PER_OFFER, "held": PER_OFFER, "requested": 1}
    assert_error(await hold(client, buyer, offers[1].id, PER_OFFER + 1), 409, "hold_limit_exceeded")
    assert (await hold(client, buyer, offers[1].id, 4)).status_code == 201
    assert (await hold(client, buyer, offers[2].id, 2)).status_code == 201
    overall = assert_error(await hold(client, buyer, offers[3].id, 1), 409, "hold_limit_exceeded")
    assert overall["details"]["limit"] == PER_BUYER
    assert await held_by(container, user["id"]) == (10, {offers[0].id: 4, offers[1].id: 4, offers[2].id: 2})
    assert await levels(container, offers[3].id) == (100, 100)  # a refused hold took nothing
    # another buyer is not affected
    _, other = await new_user(client)
    assert (await hold(client, other, offers[3].id, 4)).status_code == 201
    # releasing and expiring give the allowance back
    mine = await client.get(f"{API}/me", headers=buyer)
    assert mine.status_code == 200
    async with container.read_uow() as uow:
        first = (
            await uow.session.execute(
                select(Reservation.id).where(Reservation.user_id == user["id"], Reservation.offer_id == offers[0].id)
            )
        ).scalar_one()
    assert (await client.post(f"{API}/reservations/{first}/release", headers=buyer)).status_code == 200
    # the released offer leaves the count, the others stay as they were
    assert await held_by(container, user["id"]) == (6, {offers[1].id: 4, offers[2].id: 2})
    assert (await hold(client, buyer, offers[3].id, 4)).status_code == 201
    async with container.uow() as uow:
        await expire_due(uow=uow, now=utcnow().replace(year=utcnow().year + 1))
        await uow.commit()
    assert await held_by(container, user["id"]) == (0, {})
    assert (await hold(client, buyer, offers[3].id, 4)).status_code == 201


async def test_checkout_counts_against_the_cap_and_frees_it_when_sold(
    client: httpx.AsyncClient, container: Container
) -> None:
    a = await make_offer(container, quantity=100)
    b = await make_offer(container, quantity=100)
    too_much = await buyer_with_cart(client, (a, PER_OFFER), (b, PER_OFFER + 1))
    r = await checkout(client, too_much)
    assert_error(r, 409, "hold_limit_exceeded")
    assert await levels(container, a.id) == (100, 100) and await levels(container, b.id) == (100, 100)
    headers = await buyer_with_cart(client, (a, PER_OFFER), (b, PER_OFFER))
    r = await checkout(client, headers)
    assert r.status_code == 201, r.text  # sold: nothing held any more
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert await held_by(container, me["id"]) == (0, {})
    assert (await hold(client, headers, a.id, PER_OFFER)).status_code == 201


async def test_holds_are_rate_limited_and_need_a_login(settings_factory: Any, tmp_path: Any) -> None:
    from bazaar.bootstrap import build_container
    from bazaar.web.app import create_app
    from tests.conftest import truncate_all

    settings = settings_factory(hold_limit_per_minute=3)
    container = build_container(settings)
    if not settings.is_sqlite:
        await truncate_all(container)
    try:
        transport = httpx.ASGITransport(app=create_app(container=container), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            offer = await make_offer(container, quantity=100)
            _, buyer = await new_user(client)
            for _ in range(3):
                assert (await hold(client, buyer, offer.id, 1)).status_code == 201
            limited = await hold(client, buyer, offer.id, 1)
            assert_error(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) > 0
            _, other = await new_user(client)
            assert (await hold(client, other, offer.id, 1)).status_code == 201
            anonymous = await client.post(f"{API}/reservations", json={"offer_id": offer.id, "quantity": 1})
            assert_error(anonymous, 401, "not_authenticated")
            cart_cookie = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1})
            assert cart_cookie.status_code == 200  # an anonymous cart holds nothing
            assert await levels(container, offer.id) == (100, 96)
    finally:
        await container.close()


async def test_one_buyer_sending_many_holds_at_once_never_exceeds_the_cap(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, container: Container, pg_only
) -> None:
    """80 holds at once over the fast path (batched statement) and the route: at most the caps are held."""
    offers = [await make_offer(container, quantity=200, buckets=b) for b in (1, 4, 1)]
    user, buyer = await new_user(client)
    _, rival = await new_user(client)
    sends = [hold(client, buyer, offers[n % 3].id, 1 + n % 2) for n in range(80)]
    sends += [hold(client, rival, offers[0].id, 1) for _ in range(3)]
    # half of the buyer's holds go through the route (a body with a space is not the fast path's plain form)
    sends += [
        client.post(f"{API}/reservations", content=f'{{"offer_id": "{offers[n % 3].id}",  "quantity": 1}}',
                    headers={**buyer, "Content-Type": "application/json"})
        for n in range(40)
    ]  # fmt: skip
    answers = await asyncio.gather(*sends)
    codes = [r.status_code for r in answers]
    assert set(codes) <= {201, 409}, [r.text for r in answers if r.status_code not in (201, 409)]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"hold_limit_exceeded"}
    units, by_offer = await held_by(container, user["id"])
    assert units == PER_BUYER and all(q <= PER_OFFER for q in by_offer.values()), by_offer
    granted = sum(r.json()["quantity"] for r in answers[:80] + answers[83:] if r.status_code == 201)
    assert granted == PER_BUYER
    taken = 0
    for offer in offers:
        taken += 200 - (await levels(container, offer.id))[1]
    assert taken == PER_BUYER + 3  # the rival's three units were not refused because of the buyer
