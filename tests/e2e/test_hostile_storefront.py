"""Hostile input through the storefront and search (issue 14, findings 9, 10 and 11): numbers people did not mean
answer a form error or are ignored, never 500; a listing form with a bad offer saves nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from bazaar.bootstrap import Container
from bazaar.catalog.models import Product
from tests.catalog_builder import make_categories
from tests.e2e.test_storefront import logged_in, post
from tests.e2e.test_storefront import settings as settings
from tests.helpers import API
from tests.inventory_factories import make_offer

WEIRD_NUMBERS = ["²", "9" * 5000, "1e30", "-1", "٣", "1_000", "0x10", " ", "1.5"]


async def products(container: Container) -> int:
    async with container.read_uow() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(Product))).scalar_one())


async def test_a_listing_with_a_bad_offer_saves_no_product(client: httpx.AsyncClient, container: Container) -> None:
    categories = await make_categories(container)
    await logged_in(client)
    assert (await post(client, "/seller/join", {"display_name": "Shop"})).status_code == 303
    listing = {"title": "Desk Lamp", "brand": "Lumen", "category_id": categories["Home"], "shipping_price": "0"}
    bad_offers = [
        {"price": "1e30", "quantity": "3"},
        {"price": "99999999999999", "quantity": "3"},  # over the maximum amount
        {"price": "60000000", "shipping_price": "60000000", "quantity": "3"},  # price with shipping over it
        {"price": "10", "quantity": "²"},
        {"price": "10", "quantity": "9" * 5000},
        {"price": "10", "quantity": "2000000"},  # over the most units an offer may have
    ]
    for offer in bad_offers:
        for _ in range(2):  # resubmitting leaves no orphans either
            r = await post(client, "/seller/products", {**listing, **offer})
            assert r.status_code == 422, (offer, r.status_code)
    assert await products(container) == 0
    ok = await post(client, "/seller/products", {**listing, "price": "10.00", "quantity": "3"})
    assert ok.status_code == 303
    assert await products(container) == 1


async def test_storefront_numbers_never_answer_500(client: httpx.AsyncClient, container: Container) -> None:
    offer = await make_offer(container, quantity=5)
    await logged_in(client)
    for value in WEIRD_NUMBERS:
        for path in (f"/orders?page={value}", f"/search?q=widget&price_min={value}", f"/search?page={value}"):
            r = await client.get(path, params=None)
            assert r.status_code < 500, (path, r.status_code)
        r = await post(client, "/cart/add", {"offer_id": offer.id, "quantity": value})
        assert r.status_code < 500, (value, r.status_code)
        r = await post(
            client,
            "/checkout",
            {"name": "A", "line1": "1 St", "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US",
             "card_number": "4242424242424242", "exp_month": value, "exp_year": "2035", "cvc": "123"},
        )  # fmt: skip
        assert r.status_code < 500, (value, r.status_code)
    assert (await client.post(f"{API}/auth/logout")).status_code < 500


@pytest.mark.parametrize("value", ["18446744073709551616", "10000000001", "-1", "1e3"])
async def test_search_price_bounds_are_validated(client: httpx.AsyncClient, value: str) -> None:
    r = await client.get(f"{API}/search", params={"price_min": value})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
    page = await client.get("/search", params={"q": "", "price_min": value}, headers={"Accept": "text/html"})
    assert page.status_code < 500
