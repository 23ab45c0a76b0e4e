"""The seller center over HTTP: open a shop, list a product, change price and stock, ship with tracking,
record delivery, receive the buyer's return; the buyer follows it all on their order page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.workers import payments as capture
from tests.catalog_builder import make_categories
from tests.e2e.test_storefront import APPROVE, PASSWORD, logged_in, post
from tests.e2e.test_storefront import settings as settings  # the same short payment deadlines
from tests.helpers import API, drain_events


@pytest.fixture
async def buyer(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, pattern
    return match.group(1)


async def test_seller_center_from_listing_to_refund(
    client: httpx.AsyncClient, buyer: httpx.AsyncClient, container: Container
) -> None:
    categories = await make_categories(container)
    await logged_in(client)
    assert "Open my shop" in (await client.get("/seller")).text
    r = await post(client, "/seller/join", {"display_name": "Lamp & <Co>"})
    assert r.status_code == 303
    listing = {"title": "Desk Lamp", "brand": "Lumen", "category_id": next(iter(categories.values()))}
    bad = await post(client, "/seller/products", {**listing, "price": "twelve", "quantity": "3"})
    assert bad.status_code == 422 and 'value="Desk Lamp"' in bad.text and "12.99" in bad.text
    r = await post(client, "/seller/products", {**listing, "price": "10.00", "shipping_price": "0", "quantity": "3"})
    assert r.status_code == 303
    product_id = found(r"^/p/([A-Za-z0-9]+)", r.headers["location"])

    shown = (await client.get(f"/p/{product_id}")).text
    assert "sold by Lamp &amp; &lt;Co&gt;" in shown and "<Co>" not in shown
    dashboard = (await client.get("/seller")).text
    offer_id = found(r'action="/seller/offers/([A-Za-z0-9]+)"', dashboard)
    assert (await post(client, f"/seller/offers/{offer_id}", {"price": "12.50", "quantity": "5"})).status_code == 303
    refused = await post(client, f"/seller/offers/{offer_id}", {"price": "-1", "quantity": "5"})
    assert "Enter a price" in (await client.get(refused.headers["location"])).text
    await drain_events(container)  # the cached product page is refreshed by the catalog's events
    page = (await client.get(f"{API}/products/{product_id}")).json()
    assert page["best_offer"]["price"]["amount"] == 1250 and page["best_offer"]["available_quantity"] == 5

    # The buyer orders it.
    await post(buyer, "/cart/add", {"offer_id": offer_id, "quantity": "2"})
    await logged_in(buyer)
    checkout = await buyer.get("/checkout")
    key = found(r'name="idempotency_key" value="([^"]+)"', checkout.text)
    address = {"name": "Ada", "line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "78701"}
    card = {"card_number": APPROVE, "exp_month": "12", "exp_year": "2035", "cvc": "123"}
    form = {**address, "country": "US", **card, "shipping_method": "standard", "action": "place"}
    placed = await post(buyer, "/checkout", {**form, "idempotency_key": key})
    assert placed.status_code == 303, placed.text
    order_id = found(r'href="/orders/([^"]+)"', (await buyer.get(placed.headers["location"])).text)

    # Shipping waits for the capture; then the seller ships with tracking.
    early = await client.get(f"/seller/orders/{order_id}")
    line_id = found(r'name="line_id" value="([^"]+)"', early.text)
    r = await post(
        client, f"/seller/orders/{order_id}/ship", {"line_id": line_id, "carrier": "UPS", "tracking_number": "1Z-1"}
    )
    assert "payment is captured" in (await client.get(r.headers["location"])).text
    assert await capture.run_capture(container) == 1
    r = await post(
        client, f"/seller/orders/{order_id}/ship", {"line_id": line_id, "carrier": "UPS", "tracking_number": "1Z-1"}
    )
    assert "Marked as shipped" in (await client.get(r.headers["location"])).text
    mine = (await buyer.get(f"/orders/{order_id}")).text
    assert 'id="order-status">shipped<' in mine and "1Z-1" in mine and "Request a return" not in mine

    # Delivered, then returned and refunded.
    shipment_id = found(
        r'action="/seller/shipments/([^/]+)/events"', (await client.get(f"/seller/orders/{order_id}")).text
    )
    await post(client, f"/seller/shipments/{shipment_id}/events", {"status": "delivered", "order_id": order_id})
    mine = (await buyer.get(f"/orders/{order_id}")).text
    assert "delivered" in mine and "Request a return" in mine
    r = await post(buyer, f"/orders/{order_id}/returns", {f"qty-{line_id}": "1", "reason": "too bright"})
    assert "return is requested" in (await buyer.get(r.headers["location"])).text
    return_id = found(
        r'action="/seller/returns/([^/]+)/receive"', (await client.get(f"/seller/orders/{order_id}")).text
    )
    r = await post(client, f"/seller/returns/{return_id}/receive", {"order_id": order_id})
    assert "the buyer is refunded" in (await client.get(r.headers["location"])).text
    mine = (await buyer.get(f"/orders/{order_id}")).text
    assert "refunded" in mine and "too bright" in mine

    await drain_events(container)  # figures and notifications follow the events
    dashboard = (await client.get("/seller")).text
    assert found(r'id="stat-orders">(\d+)<', dashboard) == "1"
    assert "item(s) to ship" in dashboard and "Return requested" in dashboard and ">Desk Lamp</a>" in dashboard
    r = await post(client, "/seller/notifications/read", {})
    assert "marked read" in (await client.get(r.headers["location"])).text
    assert PASSWORD not in dashboard
