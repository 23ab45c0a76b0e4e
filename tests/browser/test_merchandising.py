"""Merchandising in Chromium: pictures, a seller's voucher applied in the cart, a review written from the order page
once delivered, stars and histogram, recommendation shelves; a screenshot per page (var/screenshots/)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_journeys import APPROVE, DEMO_PASSWORD, fill_checkout, log_in

API = "/api/v1"


def token(server: str, email: str) -> dict[str, str]:
    r = httpx.post(f"{server}{API}/auth/login", json={"email": email, "password": DEMO_PASSWORD}, timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def deliver(server: str, seller: dict[str, str], order_id: str) -> None:
    """What the seller and the carrier do: ship once the payment is captured, then report the delivery."""
    order = httpx.get(f"{server}{API}/orders/{order_id}", headers=seller, timeout=30).json()
    body = {"line_ids": [li["id"] for li in order["lines"]], "carrier": "UPS", "tracking_number": "1Z999AA10123"}
    deadline = time.monotonic() + 30
    while True:  # the capture worker runs within a second or two of the order
        shipped = httpx.post(f"{server}{API}/sellers/me/orders/{order_id}/shipments", json=body, headers=seller)
        if shipped.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert shipped.status_code == 201, shipped.text
    r = httpx.post(
        f"{server}{API}/shipments/{shipped.json()['id']}/events", json={"status": "delivered"}, headers=seller
    )
    assert r.status_code == 200, r.text


def test_voucher_review_and_shelves(new_page: Any, shots: Any, server: str) -> None:
    seller = token(server, "seller@example.com")
    offers = httpx.get(f"{server}{API}/sellers/me/offers", params={"per_page": 50}, headers=seller).json()["items"]
    offer = next(o for o in offers if o["available_quantity"] >= 2)
    code = f"WELCOME{time.time_ns() % 100000}"

    shop = new_page()
    log_in(shop, "seller@example.com")
    shop.goto("/seller/vouchers")
    shop.get_by_label("Code").fill(code)
    shop.get_by_label("Value (percent, or dollars)").fill("15")
    shop.get_by_label("Starts (UTC)").fill("2026-01-01T00:00")
    shop.get_by_label("Ends (UTC)").fill("2035-01-01T00:00")
    shop.get_by_role("button", name="Create voucher").click()
    expect(shop.get_by_text(f"Voucher {code} is created.")).to_be_visible()
    shots(shop, "seller-vouchers")

    page = new_page()
    log_in(page, "buyer@example.com")
    page.goto(f"/p/{offer['product_id']}?sku={offer['sku_id']}")
    expect(page.locator(".gallery img").first).to_be_visible()
    expect(page.get_by_role("heading", name="Customer reviews")).to_be_visible()
    shots(page, "product")
    page.locator(f"form:has(input[value='{offer['id']}']) button").first.click()
    expect(page.locator("#cart-count")).not_to_have_text("0")
    page.goto("/cart")
    page.get_by_label("Voucher code").fill(code.lower())
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text(f"{code} is applied.")).to_be_visible()
    expect(page.locator(".discounts")).to_contain_text(code)
    shots(page, "cart-with-voucher")
    page.get_by_role("link", name="Check out").click()
    page.wait_for_url("**/checkout")
    fill_checkout(page, APPROVE)
    expect(page.locator(".totals")).to_contain_text(f"Voucher {code}")
    shots(page, "checkout-with-voucher")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile("your order is placed"))).to_be_visible()
    page.get_by_role("link", name="See your order").click()
    page.wait_for_url("**/orders/*")
    order_id = page.url.rsplit("/", 1)[1]

    deliver(server, seller, order_id)
    page.reload()
    shots(page, "order-delivered")
    page.get_by_role("link", name="Write a review").first.click()
    page.wait_for_url("**/review")
    page.locator("input[name='rating'][value='5']").check()
    page.get_by_label("Title").fill("Exactly as pictured")
    page.get_by_label("Your review").fill("Arrived quickly and works well. The voucher was a nice touch.")
    shots(page, "write-review")
    page.get_by_role("button", name="Publish review").click()
    expect(page.get_by_text("Thank you: your review is published.")).to_be_visible()
    expect(page.get_by_text("Exactly as pictured")).to_be_visible()
    expect(page.get_by_text("Verified purchase").first).to_be_visible()
    shots(page, "product-with-review")

    page.goto("/")
    expect(page.get_by_role("heading", name="Popular")).to_be_visible()
    shots(page, "home")
