"""Guest checkout and wish list -> back in stock -> email, in Chromium against a real server and SMTP server."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.browser.test_journeys import APPROVE, add_to_cart, fill_checkout, log_in
from tests.smtp_server import text_of


def wait_for_mail(smtp: Any, to: str, kind: str, timeout: float = 20) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in smtp.inbox if m["To"] == to and m["X-Bazaar-Kind"] == kind]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_guest_checkout_then_the_link_then_an_account(new_page: Any, shots: Any, smtp: Any) -> None:
    email = f"guest{time.time_ns()}@example.com"
    page = new_page()
    page.goto("/")
    page.locator(".card a").first.click()
    page.wait_for_url("**/p/*")
    add_to_cart(page, shots)
    page.get_by_role("link", name=re.compile(r"^Cart")).click()
    page.get_by_role("link", name="Check out").click()
    page.wait_for_url("**/checkout")
    page.get_by_label("Email", exact=True).fill(email)
    fill_checkout(page, APPROVE)
    shots(page, "guest-checkout")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name=re.compile("your order is placed"))).to_be_visible()
    shots(page, "guest-confirmation")
    page.get_by_role("link", name="See your order").click()
    page.wait_for_url(re.compile(r"/orders/\w+\?access="))
    expect(page.get_by_text("through its link")).to_be_visible()
    order_id = re.search(r"/orders/(\w+)", page.url).group(1)  # type: ignore[union-attr]
    shots(page, "guest-order")

    [mail] = wait_for_mail(smtp, email, "order_placed")
    assert order_id[-8:] in mail["Subject"]
    link = re.search(r"(http://\S+/orders/\w+\?access=\S+)", text_of(mail))
    assert link is not None
    elsewhere = new_page()  # the email's link, in another browser
    elsewhere.goto(link.group(1))
    expect(elsewhere.locator("#order-status")).to_have_text(re.compile("pending|processing"))

    page.goto("/register")
    page.get_by_label("Your name").fill("Former Guest")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    page.goto("/orders")
    expect(page.locator(f"a[href='/orders/{order_id}']")).to_be_visible()
    shots(page, "claimed-orders")


def test_wishlist_back_in_stock_email(new_page: Any, shots: Any, smtp: Any) -> None:
    seller = new_page()
    log_in(seller, "seller@example.com")
    seller.goto("/seller/products/new")
    title = f"Sold-out Kettle {time.time_ns()}"
    seller.get_by_label("Title").fill(title)
    seller.get_by_label("Brand").fill("Boil")
    seller.get_by_label("Description").fill("Back soon.")
    seller.get_by_label("Your price").fill("24.50")
    seller.get_by_label("Units in stock").fill("0")
    seller.get_by_role("button", name="List it").click()
    seller.wait_for_url("**/p/*")
    product_url = seller.url

    buyer = new_page()
    email = f"wisher{time.time_ns()}@example.com"
    buyer.goto("/register")
    buyer.get_by_label("Your name").fill("Wendy Wisher")
    buyer.get_by_label("Email").fill(email)
    buyer.get_by_label("Password").fill("correct horse battery")
    buyer.get_by_role("button", name="Create account").click()
    buyer.goto(product_url)
    expect(buyer.get_by_role("button", name="Notify me when it is back")).to_be_visible()
    buyer.get_by_role("button", name="Save to wish list").click()
    expect(buyer.get_by_role("status")).to_contain_text("Saved to your wish list")
    shots(buyer, "wished")
    buyer.get_by_role("link", name="Wish list").click()
    expect(buyer.get_by_text(title)).to_be_visible()
    shots(buyer, "wishlist")

    seller.goto("/seller")
    row = seller.locator("tr", has_text=title)
    row.get_by_label("On hand").fill("3")
    row.get_by_role("button", name="Save").click()
    shots(seller, "restocked")

    [mail] = wait_for_mail(smtp, email, "back_in_stock")
    assert title in mail["Subject"] and product_url in text_of(mail)
    deadline = time.monotonic() + 10
    buyer.goto("/account")
    while f"Back in stock: {title}" not in buyer.locator("main").inner_text():
        assert time.monotonic() < deadline, "no notification on the account page"
        time.sleep(0.3)
        buyer.reload()
    shots(buyer, "notified")
    time.sleep(1.5)  # later rounds of the workers send nothing more
    assert len([m for m in smtp.inbox if m["To"] == email and m["X-Bazaar-Kind"] == "back_in_stock"]) == 1


def test_buyer_pages_fit_a_phone_and_work_from_the_keyboard(browser: Any, server: str, shots: Any) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto("/register")
        page.get_by_label("Your name").fill("Phone Buyer")
        page.get_by_label("Email").fill(f"phone{time.time_ns()}@example.com")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Create account").click()
        page.goto("/account/addresses")
        for label, value in (
            ("Full name", "Pat Phone"),
            ("Address", "3 Pocket Ln"),
            ("City", "Austin"),
            ("State / region", "TX"),
            ("Postal code", "78701"),
        ):
            page.get_by_label(label, exact=False).first.fill(value)
        page.get_by_label("Country (two letters, e.g. US)").fill("US")
        page.get_by_role("button", name="Save address").focus()
        page.keyboard.press("Enter")  # the keyboard submits it
        expect(page.get_by_role("status")).to_contain_text("The address is saved")
        for path in ("/account/addresses", "/account", "/wishlist", "/account/email"):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
            shots(page, "phone-" + path.strip("/").replace("/", "-"))
        page.goto("/")
        page.locator(".card a").first.click()
        page.wait_for_url("**/p/*")
        page.get_by_role("button", name="Save to wish list").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Saved to your wish list")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.get_by_role("button", name="Add to cart").click()
        expect(page.locator("#cart-count")).not_to_have_text("0")  # htmx added it in place
        page.goto("/checkout")
        expect(page.get_by_role("radio", name=re.compile("3 Pocket Ln"))).to_be_checked()  # the default address
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shots(page, "phone-checkout-saved-address")
    finally:
        context.close()
