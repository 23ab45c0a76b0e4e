"""A flash sale in Chromium: the product page counts down and switches live by itself, the buyer joins the queue,
the waiting page (htmx polling) turns into their admission, and they hold and check out at the sale price."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.test_journeys import APPROVE, DEMO_PASSWORD, log_in


def schedule_sale(server: str, *, starts_in: float) -> dict[str, Any]:
    """The demo seller puts 3 units of one of their offers on sale, 2 per buyer, through the API."""
    with httpx.Client(base_url=server, timeout=10) as api:
        token = api.post("/api/v1/auth/login", json={"email": "seller@example.com", "password": DEMO_PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        offers = api.get("/api/v1/sellers/me/offers", params={"per_page": 100}, headers=headers).json()["items"]
        sales = api.get("/api/v1/sellers/me/flash-sales", headers=headers).json()["items"]
        taken = {s["offer_id"] for s in sales}
        offer = next(o for o in offers if o["available_quantity"] >= 5 and o["id"] not in taken)
        starts = datetime.now(UTC) + timedelta(seconds=starts_in)
        body = {
            "offer_id": offer["id"],
            "price": {"amount": 500, "currency": "USD"},
            "units": 3,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=20)).isoformat(),
            "per_buyer_limit": 2,
        }
        r = api.post("/api/v1/sellers/me/flash-sales", json=body, headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json())


def test_queue_admission_and_checkout(new_page: Any, server: str, shots: Any) -> None:
    sale = schedule_sale(server, starts_in=4)
    page = new_page()
    log_in(page, "buyer@example.com")
    page.goto(f"/p/{sale['product_id']}")
    expect(page.get_by_role("heading", name="Flash sale coming")).to_be_visible()
    expect(page.locator("#flash-sale [data-countdown-to]")).to_have_text(re.compile(r"\d\dm \d\ds"))  # ticking
    shots(page, "countdown")
    # At zero the page reloads itself and the sale is live.
    expect(page.get_by_role("heading", name="Flash sale live")).to_be_visible(timeout=20_000)
    expect(page.locator("#flash-sale")).to_contain_text("3 left")
    shots(page, "live")

    page.get_by_role("button", name="Join the queue").click()
    page.wait_for_url(re.compile(r"/flash/.+/queue/"))
    shots(page, "queue")
    # The admitter lets the buyer in; htmx swaps the status in place, no reload.
    expect(page.get_by_role("alert")).to_contain_text("It is your turn", timeout=20_000)
    shots(page, "admitted")
    page.get_by_label("Quantity").select_option("2")
    page.get_by_role("button", name="Hold and check out").click()
    page.wait_for_url(re.compile(r"/flash/.+/checkout$"))
    expect(page.locator("#held-units")).to_have_text("2")
    expect(page.locator("main")).to_contain_text("$5.00")
    for label, value in (
        ("Full name", "Ada Flash"),
        ("Address", "1 Main St"),
        ("City", "Austin"),
        ("State / region", "TX"),
        ("Postal code", "78701"),
        ("Country", "US"),
    ):
        page.get_by_label(label, exact=False).first.fill(value)
    if page.get_by_label("A new address (below)").count():  # the demo buyer may have saved addresses
        page.get_by_label("A new address (below)").check()
    page.get_by_label("Card number").fill(APPROVE)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2035")
    page.get_by_label("Security code").fill("123")
    shots(page, "checkout")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile("your order is placed"))).to_be_visible()
    shots(page, "confirmation")
    page.get_by_role("link", name="See your order").click()
    page.wait_for_url("**/orders/*")
    expect(page.locator("main")).to_contain_text("$10.00")  # 2 at the sale's $5.00
    shots(page, "order")

    page.goto(f"/p/{sale['product_id']}")  # one unit left for others; this buyer has used their limit
    expect(page.locator("#flash-sale")).to_contain_text("1 left", timeout=10_000)
