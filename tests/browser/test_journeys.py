"""Buyer, declined-card and seller journeys through the storefront in Chromium, with a screenshot per page."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from playwright.sync_api import expect

APPROVE, DECLINE = "4242424242424242", "4000000000000002"
DEMO_PASSWORD = "bazaar-demo"
_n = itertools.count(1)


def register(page: Any, shots: Any) -> None:
    """From the login page a checkout sent us to: create an account and come back where we were going."""
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill("Browser Buyer")
    page.get_by_label("Email").fill(f"browser{next(_n)}-{time.time_ns()}@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    shots(page, "register")
    page.get_by_role("button", name="Create account").click()


def log_in(page: Any, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def add_to_cart(page: Any, shots: Any) -> None:
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#cart-count")).not_to_have_text("0")  # htmx updated the counter in place
    shots(page, "product")


def fill_checkout(page: Any, card: str) -> None:
    for label, value in (
        ("Full name", "Ada Browser"),
        ("Address", "1 Main St"),
        ("City", "Austin"),
        ("State / region", "TX"),
        ("Postal code", "78701"),
        ("Country", "US"),
    ):
        page.get_by_label(label, exact=False).first.fill(value)
    page.get_by_role("button", name="Update totals").click()
    expect(page.locator("#order-total")).to_be_visible()
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2035")
    page.get_by_label("Security code").fill("123")


def place_order(page: Any, shots: Any) -> str:
    page.get_by_role("link", name=re.compile(r"^Cart")).click()
    shots(page, "cart")
    page.get_by_role("link", name="Check out").click()
    page.wait_for_url("**/checkout")
    if page.locator("a[href='/login?next=/checkout']").count():  # offered guest checkout: this buyer registers
        page.locator("a[href='/login?next=/checkout']").click()
        register(page, shots)
    page.wait_for_url("**/checkout")
    fill_checkout(page, APPROVE)
    shots(page, "checkout")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile("your order is placed"))).to_be_visible()
    shots(page, "confirmation")
    page.get_by_role("link", name="See your order").click()
    page.wait_for_url("**/orders/*")
    shots(page, "order")
    return str(page.url)


def test_buyer_journey(new_page: Any, shots: Any) -> None:
    page = new_page()
    page.goto("/")
    shots(page, "home")
    title = page.locator(".card .title").first.inner_text()
    word = max(re.findall(r"[A-Za-z]{3,}", title), key=len)
    page.get_by_label("Search products").fill(word)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"/search\?q="))
    shots(page, "search")
    page.get_by_label("In stock only").check()  # facets submit themselves through htmx and land in the URL
    page.wait_for_url(re.compile(r"in_stock=1"))
    page.locator("#facets input[name=brand]").first.check()
    page.wait_for_url(re.compile(r"brand="))
    shots(page, "facet")
    page.locator("#results .card a").first.click()
    page.wait_for_url("**/p/*")
    add_to_cart(page, shots)
    place_order(page, shots)
    expect(page.locator("#order-status")).to_have_text(re.compile("pending|processing"))
    page.get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Your orders")).to_be_visible()
    shots(page, "history")


def test_declined_card_keeps_the_form(new_page: Any, shots: Any) -> None:
    page = new_page()
    log_in(page, "buyer@example.com")
    page.locator(".card a").first.click()
    add_to_cart(page, shots)
    page.goto("/checkout")
    fill_checkout(page, DECLINE)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("alert").first).to_contain_text("declined")
    expect(page.get_by_label("Full name")).to_have_value("Ada Browser")
    expect(page.get_by_label("Postal code")).to_have_value("78701")
    shots(page, "declined")


def test_seller_lists_buyer_orders_seller_ships_buyer_sees_it(new_page: Any, shots: Any) -> None:
    seller = new_page()
    log_in(seller, "seller@example.com")
    seller.get_by_role("link", name="Seller center").click()
    shots(seller, "seller-dashboard")
    seller.get_by_role("link", name="List a new product").click()
    title = f"Browser Lamp {time.time_ns()}"
    seller.get_by_label("Title").fill(title)
    seller.get_by_label("Brand").fill("Lumen")
    seller.get_by_label("Description").fill("A <b>bright</b> desk lamp.")
    seller.get_by_label("Your price").fill("19.99")
    seller.get_by_label("Units in stock").fill("4")
    shots(seller, "seller-new-product")
    seller.get_by_role("button", name="List it").click()
    seller.wait_for_url("**/p/*")
    expect(seller.get_by_role("heading", name=title)).to_be_visible()
    expect(seller.get_by_text("A <b>bright</b> desk lamp.")).to_be_visible()  # escaped, shown as typed
    shots(seller, "seller-listed")
    product_url = seller.url

    buyer = new_page()
    buyer.goto(product_url)
    add_to_cart(buyer, shots)
    order_url = place_order(buyer, shots)

    seller.goto("/seller")
    seller.locator("a[href^='/seller/orders/']", has_text=title).click()
    deadline = time.monotonic() + 20
    while "Status: processing" not in seller.locator("main").inner_text():  # the capture worker's turn
        assert time.monotonic() < deadline, "the payment was never captured"
        time.sleep(0.3)
        seller.reload()
    seller.get_by_label("Carrier").fill("UPS")
    seller.get_by_label("Tracking number").fill("1Z999AA10123456784")
    shots(seller, "seller-order")
    seller.get_by_role("button", name="Mark shipped").click()
    expect(seller.get_by_role("status")).to_contain_text("Marked as shipped")
    shots(seller, "seller-shipped")

    buyer.goto(order_url)
    expect(buyer.locator("#order-status")).to_contain_text("shipped")
    expect(buyer.get_by_text("1Z999AA10123456784")).to_be_visible()
    shots(buyer, "buyer-sees-shipped")


def test_phone_width_and_keyboard(browser: Any, server: str, shots: Any) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        for path, step in (("/", "phone-home"), ("/search?q=a", "phone-search")):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
            shots(page, step)
        page.locator(".card a").first.click()
        page.wait_for_url("**/p/*")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shots(page, "phone-product")
        # Keyboard: the skip link comes first, then the search box; Enter on "Add to cart" adds.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Search products")).to_be_focused()
        page.get_by_role("button", name="Add to cart").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#cart-count")).to_have_text("1")
        for img in page.locator("img").all():
            assert img.get_attribute("alt") is not None
    finally:
        context.close()
