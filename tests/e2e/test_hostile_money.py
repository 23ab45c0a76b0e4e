"""Money at its bounds (issue 14, findings 4, 7 and 12): 64-bit columns, one maximum for prices, totals and the
payment provider, and a clear 422 instead of a 500 (or stock held until the reconciler)."""

from __future__ import annotations

import httpx

from bazaar.bootstrap import Container
from bazaar.kernel.money import MAX_AMOUNT
from tests.catalog_builder import api_offer, api_product, make_categories
from tests.e2e.test_accounts import assert_error
from tests.e2e.test_checkout import assert_nothing_held, buyer_with_cart, checkout
from tests.helpers import API, new_seller
from tests.inventory_factories import levels, make_offer

BIG = 2**31 + 1000  # over a 32-bit column: $21,474,846.48


async def test_prices_over_32_bits_are_stored_and_shown(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, seller = await new_seller(client)
    product = await api_product(client, seller, title="Yacht", brand="Acme", category_id=cats["Home"])
    offer = await api_offer(client, seller, sku_id=product["skus"][0]["id"], price=BIG, shipping=BIG // 2)
    assert offer["price"]["amount"] == BIG
    page = await client.get(f"{API}/products/{product['id']}")
    assert page.status_code == 200 and page.json()["offers"][0]["price"]["amount"] == BIG
    to_max = {"price": {"amount": MAX_AMOUNT, "currency": "USD"}, "shipping_price": {"amount": 0, "currency": "USD"}}
    patched = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json=to_max, headers=seller)
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"]["amount"] == MAX_AMOUNT


async def test_price_and_shipping_at_the_maximum_are_refused_or_kept_never_500(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Finding 12: PATCH with price + shipping over the maximum answered 500 on SQLite."""
    cats = await make_categories(container)
    _, seller = await new_seller(client)
    product = await api_product(client, seller, title="Crown", brand="Acme", category_id=cats["Home"])
    offer = await api_offer(client, seller, sku_id=product["skus"][0]["id"], price=100)
    both = {
        "price": {"amount": MAX_AMOUNT, "currency": "USD"},
        "shipping_price": {"amount": MAX_AMOUNT, "currency": "USD"},
    }
    r = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json=both, headers=seller)
    assert_error(r, 422, "amount_too_large")  # no buyer could pay for one unit
    half = {"price": {"amount": MAX_AMOUNT // 2, "currency": "USD"}, "shipping_price": both["shipping_price"]}
    assert_error(
        await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json=half, headers=seller), 422, "amount_too_large"
    )
    r = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json={"price": both["price"]}, headers=seller)
    assert r.status_code == 200 and r.json()["price"]["amount"] == MAX_AMOUNT, r.text
    over = {"price": {"amount": MAX_AMOUNT + 1, "currency": "USD"}}
    r = await client.patch(f"{API}/sellers/me/offers/{offer['id']}", json=over, headers=seller)
    assert_error(r, 422, "validation_error")
    page = await client.get(f"{API}/products/{product['id']}")
    assert page.status_code == 200
    search = await client.get(f"{API}/search", params={"q": "Crown"})
    assert search.status_code == 200


async def test_a_total_over_the_maximum_is_422_before_any_stock_is_held(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Findings 4 and 7: two $15M items failed at pricing (32-bit) or at the provider, holding stock ~30 s."""
    a = await make_offer(container, quantity=5, price=15_000_000_00)
    b = await make_offer(container, quantity=5, price=MAX_AMOUNT)
    headers = await buyer_with_cart(client, (a, 2))
    r = await checkout(client, headers)
    assert r.status_code == 201, r.text  # $30M: over 32 bits, under the maximum
    too_much = await buyer_with_cart(client, (b, 1), (a, 1))
    r = await checkout(client, too_much)
    err = assert_error(r, 422, "amount_too_large")
    assert err["details"]["max_amount"] == MAX_AMOUNT
    await assert_nothing_held(container)
    assert await levels(container, b.id) == (5, 5)
    replay = await checkout(client, too_much)
    assert_error(replay, 422, "amount_too_large")
