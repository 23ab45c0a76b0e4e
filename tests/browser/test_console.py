"""The operator's console in Chromium: the demo operator suspends and reinstates a seller, takes a product down
(its page answers 404) and restores it, refunds an order as a goodwill gesture, sets the commission, runs
payouts and reads the audit trail; a screenshot per page."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.browser.test_journeys import add_to_cart, fill_checkout, log_in


def act(page: Any, row: Any, reason: str | None, button: str) -> None:
    if reason is not None:
        row.get_by_placeholder("Reason").fill(reason)
    row.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def test_operator_console_journey(new_page: Any, shots: Any) -> None:
    # A buyer orders something, so the operator has an order to look after.
    buyer = new_page()
    log_in(buyer, "buyer@example.com")
    buyer.locator(".card a").first.click()
    add_to_cart(buyer, shots)
    buyer.goto("/checkout")
    fill_checkout(buyer, "4242424242424242")
    buyer.get_by_role("button", name="Place order").click()
    expect(buyer.get_by_role("heading", name=re.compile("your order is placed"))).to_be_visible()
    buyer.get_by_role("link", name="See your order").click()
    buyer.wait_for_url("**/orders/*")
    order_id = buyer.url.rsplit("/", 1)[-1].split("?")[0]

    admin = new_page()
    log_in(admin, "admin@example.com")
    admin.get_by_role("link", name="Console").click()
    expect(admin.get_by_role("heading", name="Marketplace today")).to_be_visible()
    expect(admin.locator("[data-figure=orders-today]")).not_to_have_text("0")
    shots(admin, "dashboard")

    admin.get_by_role("link", name="Sellers", exact=True).click()
    row = admin.locator("table.sellers tbody tr").first
    name = row.locator("td").first.inner_text().splitlines()[0]
    act(admin, row, "Selling counterfeit goods", "Suspend")
    expect(admin.get_by_role("status")).to_contain_text(f"{name} suspended")
    expect(admin.locator("table.sellers")).to_contain_text("Selling counterfeit goods")
    shots(admin, "seller-suspended")
    act(admin, admin.locator("table.sellers tbody tr", has_text=name).first, "Documents checked", "Reinstate")
    expect(admin.get_by_role("status")).to_contain_text(f"{name} reinstated")

    admin.get_by_role("link", name="Products", exact=True).click()
    product = admin.locator("table.products tbody tr").first
    product_id = product.get_attribute("id").removeprefix("product-")
    act(admin, product, "Safety recall", "Take down")
    expect(admin.get_by_role("status")).to_contain_text("taken down")
    shots(admin, "product-taken-down")
    deadline = time.monotonic() + 10  # the page cache lets go within seconds, through the catalog's events
    while admin.goto(f"/p/{product_id}").status != 404:
        assert time.monotonic() < deadline, "the product page still answers"
        time.sleep(0.3)
    expect(admin.get_by_role("heading", name="Not found")).to_be_visible()
    shots(admin, "product-404")
    admin.goto(f"/admin/products?q={product_id}")
    act(admin, admin.locator("table.products tbody tr").first, None, "Restore")
    expect(admin.get_by_role("status")).to_contain_text("restored")

    admin.goto(f"/admin/orders/{order_id}")
    deadline = time.monotonic() + 20
    while not admin.get_by_label(re.compile("Amount in dollars")).count():  # the capture worker's turn
        assert time.monotonic() < deadline, "the payment was never captured"
        time.sleep(0.3)
        admin.reload()
    admin.get_by_label(re.compile("Amount in dollars")).fill("1.00")
    admin.get_by_label("Reason").fill("Arrived a day late")
    shots(admin, "order")
    admin.get_by_role("button", name="Refund the buyer").click()
    expect(admin.get_by_role("status")).to_contain_text("Refunded $1.00")
    expect(admin.locator("#payment")).to_contain_text("refunded $1.00")
    shots(admin, "order-refunded")

    admin.get_by_role("link", name="Commission", exact=True).click()
    admin.get_by_label("Default rate (%)").fill("12")
    admin.get_by_role("button", name="Save rates").click()
    expect(admin.get_by_role("status")).to_contain_text("saved")
    shots(admin, "commission")
    admin.get_by_label("Default rate (%)").fill("10")
    admin.get_by_role("button", name="Save rates").click()

    admin.get_by_role("link", name="Disputes", exact=True).click()
    shots(admin, "disputes")
    admin.get_by_role("link", name="Payouts", exact=True).click()
    admin.get_by_role("button", name="Pay available balances now").click()
    expect(admin.get_by_role("status")).to_contain_text("Payout run")
    shots(admin, "payouts")
    admin.get_by_role("link", name="Audit trail", exact=True).click()
    for action in ("seller.suspend", "seller.reinstate", "product.takedown", "product.restore", "order.refund"):
        expect(admin.locator("table.trail")).to_contain_text(action)
    shots(admin, "audit")

    buyer.reload()  # the buyer sees the refund on the order
    expect(buyer.locator("main")).to_contain_text("$1.00")


def test_buyers_get_no_console(new_page: Any, shots: Any) -> None:
    page = new_page()
    log_in(page, "buyer@example.com")
    expect(page.get_by_role("link", name="Console")).to_have_count(0)
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shots(page, "not-allowed")


def test_suspension_reaches_search_and_buy_boxes_within_5_seconds(server: str) -> None:
    """Against the live server and its own workers: suspend the only seller of a product, then watch its buy box
    and its search result until both show it gone; the same for reinstating."""
    import httpx

    api = httpx.Client(base_url=f"{server}/api/v1", timeout=5)
    token = api.post("/auth/login", json={"email": "admin@example.com", "password": "bazaar-demo"}).json()["token"]
    admin = {"Authorization": f"Bearer {token}"}
    chosen = None
    for item in api.get("/search", params={"in_stock": 1, "per_page": 50}).json()["items"]:
        offers = api.get(f"/products/{item['id']}").json()["offers"]
        if len({o["seller"]["id"] for o in offers}) == 1:
            chosen = (item["id"], item["title"], offers[0]["seller"]["id"])
            break
    assert chosen, "the demo catalog has a product with a single seller"
    product_id, title, seller_id = chosen

    def shown() -> tuple[bool, bool]:
        page = api.get(f"/products/{product_id}").json()
        hits = api.get("/search", params={"q": title, "per_page": 50}).json()["items"]
        in_search = any(h["id"] == product_id and h["in_stock"] for h in hits)
        return any(o["seller"]["id"] == seller_id for o in page["offers"]), in_search

    def wait_until(expected: tuple[bool, bool]) -> float:
        began = time.monotonic()
        while shown() != expected:
            assert time.monotonic() - began < 5, f"still {shown()} after 5 s"
            time.sleep(0.1)
        return time.monotonic() - began

    assert shown() == (True, True)
    r = api.post(f"/admin/sellers/{seller_id}/suspend", json={"reason": "live test"}, headers=admin)
    assert r.status_code == 200
    gone = wait_until((False, False))
    assert api.post(f"/admin/sellers/{seller_id}/reinstate", headers=admin).status_code == 200
    back = wait_until((True, True))
    print(f"suspension reached buy box and search in {gone:.2f} s; reinstatement in {back:.2f} s")
