"""The storefront over HTTP: pages render escaped, forms need their CSRF token, cookies are safe, the cart
merges at login, and a failed checkout keeps what the buyer typed; on both backends."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bazaar.bootstrap import Container
from bazaar.orders.models import Order
from tests.catalog_builder import rebuild_index
from tests.helpers import API, register
from tests.inventory_factories import MadeOffer, make_offer

PASSWORD = "correct horse battery"
ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Main St",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
}
APPROVE, DECLINE = "4242424242424242", "4000000000000002"
EVIL = '<script>alert("x")</script> Kettle'


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(
        payment_call_timeout_seconds=0.3,
        payment_deadline_seconds=1.0,
        payment_retry_base_seconds=0.02,
        payment_retry_max_seconds=0.1,
        capture_delay_seconds=0,
    )


async def csrf(client: httpx.AsyncClient) -> str:
    if not client.cookies.get("bazaar_csrf"):
        r = await client.get("/login")
        assert r.status_code == 200
    token = client.cookies.get("bazaar_csrf")
    assert token
    return str(token)


async def post(client: httpx.AsyncClient, path: str, data: dict[str, Any], **kw: Any) -> httpx.Response:
    return await client.post(path, data={"csrf_token": await csrf(client), **data}, **kw)


async def cart_lines(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/cart")
    assert r.status_code == 200
    return re.findall(r'<a href="/p/[^"]+">([^<]+)</a>', r.text.split('id="cart"', 1)[1])


async def logged_in(client: httpx.AsyncClient) -> dict[str, Any]:
    user = await register(client, password=PASSWORD)
    r = await post(client, "/login", {"email": user["email"], "password": PASSWORD, "next": "/cart"})
    assert r.status_code == 303, r.text
    return user


async def test_pages_render_with_escaped_output_and_security_headers(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=3, title=EVIL)
    await rebuild_index(container)
    for path in ("/", "/search?q=kettle", f"/p/{offer.product_id}", "/login", "/register", "/cart"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert "<script>alert" not in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    page = (await client.get(f"/p/{offer.product_id}")).text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Kettle" in page
    assert "Only 3 left" in page  # low stock shows in the buy box
    assert "Call 555" not in (await client.get("/", params={"notice": "Call 555"})).text  # notices come from us only
    results = (await client.get("/search", params={"q": "kettle", "sort": "price_asc"})).text
    assert f"/p/{offer.product_id}" in results and "1 product" in results


async def test_missing_pages_are_html_and_the_api_keeps_its_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/no-such-page", headers={"accept": "text/html"})
    assert r.status_code == 404 and "<h1>Not found</h1>" in r.text
    r = await client.get("/p/NOSUCHPRODUCT")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    r = await client.get(f"{API}/products/NOSUCHPRODUCT", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "product_not_found"


async def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=5)
    await csrf(client)
    for data in ({"offer_id": offer.id, "quantity": "1"}, {"offer_id": offer.id, "quantity": "1", "csrf_token": "x"}):
        r = await client.post("/cart/add", data=data)
        assert r.status_code == 403
        assert "did not come from this site" in r.text
    assert await cart_lines(client) == []
    user = await register(client, password=PASSWORD)
    r = await client.post("/login", data={"email": user["email"], "password": PASSWORD})
    assert r.status_code == 403 and "bazaar_session" not in r.headers.get("set-cookie", "")


async def test_login_sets_a_safe_session_cookie_and_merges_the_anonymous_cart(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=5, title="Merge Kettle")
    r = await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "2"})
    assert r.status_code == 303
    assert await cart_lines(client) == ["Merge Kettle"]
    user = await register(client, password=PASSWORD)
    r = await post(client, "/login", {"email": user["email"], "password": PASSWORD, "next": "//evil.example"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("bazaar_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain HTTP here; set when served over HTTPS
    assert await cart_lines(client) == ["Merge Kettle"]  # now the user's cart
    me = await client.get(f"{API}/me")  # the same session works for the API
    assert me.status_code == 200 and me.json()["email"] == user["email"]
    bad = await post(client, "/login", {"email": user["email"], "password": "wrong password"})
    assert bad.status_code == 401 and "do not match" in bad.text and user["email"] in bad.text


async def _checkout(client: httpx.AsyncClient, offer: MadeOffer, card: str, key: str) -> httpx.Response:
    data = {**ADDRESS, "shipping_method": "standard", "action": "place", "idempotency_key": key}
    data |= {"card_number": card, "exp_month": "12", "exp_year": "2035", "cvc": "123"}
    return await post(client, "/checkout", data)


async def test_checkout_errors_keep_the_address_and_success_shows_the_order(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=5, title="Checkout Kettle", price=2500)
    await logged_in(client)
    await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "1"})
    form = await client.get("/checkout")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form.text)
    assert form.status_code == 200 and key
    quote = await post(client, "/checkout", {**ADDRESS, "shipping_method": "standard", "action": "quote"})
    assert quote.status_code == 200 and 'id="order-total"' in quote.text
    r = await _checkout(client, offer, DECLINE, key.group(1))
    assert r.status_code == 422 and "declined" in r.text.lower()
    for value in ADDRESS.values():
        assert f'value="{value}"' in r.text
    assert DECLINE not in r.text  # the card number is never echoed back
    bad_zip = await post(client, "/checkout", {**ADDRESS, "postal_code": "nope", "action": "quote"})
    assert bad_zip.status_code == 422 and 'value="NOPE"' not in bad_zip.text and 'value="nope"' in bad_zip.text
    async with container.read_uow() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Order))).scalar_one() == 0
    new_key = re.search(r'name="idempotency_key" value="([^"]+)"', r.text)
    assert new_key and new_key.group(1) != key.group(1)
    ok = await _checkout(client, offer, APPROVE, new_key.group(1))
    assert ok.status_code == 303 and ok.headers["location"].startswith("/checkout/")
    again = await _checkout(client, offer, APPROVE, new_key.group(1))  # a double submit
    assert again.headers["location"] == ok.headers["location"]
    done = await client.get(ok.headers["location"])
    assert "your order is placed" in done.text
    order_id = re.search(r'href="/orders/([^"]+)"', done.text)
    assert order_id
    page = await client.get(f"/orders/{order_id.group(1)}")
    assert page.status_code == 200 and "Checkout Kettle" in page.text
    assert "Checkout Kettle" in (await client.get("/orders")).text
    assert "Checkout Kettle" in (await client.get("/orders", params={"page": "abc"})).text
    async with container.read_uow() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Order))).scalar_one() == 1
    cancelled = await post(client, f"/orders/{order_id.group(1)}/cancel", {})
    assert cancelled.status_code == 303
    assert "cancelled" in (await client.get(f"/orders/{order_id.group(1)}")).text


async def test_pages_that_need_a_login_send_the_visitor_to_log_in(client: httpx.AsyncClient) -> None:
    for path in ("/orders", "/seller", "/account", "/wishlist", "/account/addresses", "/account/email"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


async def test_cart_page_warns_edits_and_answers_htmx_with_fragments(
    client: httpx.AsyncClient, container: Container
) -> None:
    from tests.inventory_factories import set_price

    offer = await make_offer(container, quantity=4, title="Warning Kettle", price=1000)
    r = await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "2"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.text == "2"  # only the header's counter
    assert client.cookies.get("bazaar_cart")
    await set_price(container, offer.id, 1250)
    page = (await client.get("/cart")).text
    assert "The price went up from $10.00 to $12.50" in page and "Only 4 left in stock" in page
    item_id = re.search(r'action="/cart/items/([^"]+)"', page)
    assert item_id
    r = await post(client, f"/cart/items/{item_id.group(1)}", {"quantity": "3"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="cart-count">3<' in r.text and 'value="3"' in r.text
    r = await post(client, f"/cart/items/{item_id.group(1)}", {"quantity": "1000"})
    assert "between 0 and 999" in (await client.get(r.headers["location"])).text
    r = await post(client, f"/cart/items/{item_id.group(1)}", {"remove": "1", "quantity": "3"})
    assert r.status_code == 303 and await cart_lines(client) == []


async def test_search_pages_keep_the_search_in_the_url(client: httpx.AsyncClient, container: Container) -> None:
    for n in range(3):
        await make_offer(container, quantity=2, title=f"Copper Kettle {n}", price=1000 + n)
    await rebuild_index(container)
    page = (await client.get("/search", params={"q": "kettel", "sort": "bogus", "page": "x", "price_min": "-4"})).text
    assert "Did you mean" in page and 'href="/search?q=kettle"' in page  # mangled values are dropped, not a 500
    long = await client.get("/search", params={"q": "kettle", "category": "x" * 300, "brand": "y" * 500})
    assert long.status_code == 200 and "No products match" in long.text
    page = (await client.get("/search", params={"q": "kettle", "brand": "Acme", "in_stock": "1"})).text
    assert "3 products" in page and 'name="brand" value="Acme" checked' in page
    assert re.search(
        r"/search\?q=kettle&amp;brand=Acme&amp;price_min=\d+&amp;price_max=\d+&amp;in_stock=1", page
    )  # price links keep the rest


async def test_a_failing_page_answers_an_html_500_and_echoed_input_is_escaped(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bazaar.web.storefront.pages import browse

    r = await client.get("/search", params={"q": "<img src=x onerror=alert(1)>"})
    assert r.status_code == 200 and "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("index on fire")

    monkeypatch.setattr(browse, "run_search", broken)
    r = await client.get("/")
    assert r.status_code == 500 and "Something went wrong" in r.text and "index on fire" not in r.text
    assert r.headers["content-type"].startswith("text/html") and "x-content-type-options" in r.headers


async def test_checkout_page_lets_the_buyer_pick_a_speed_per_seller(
    client: httpx.AsyncClient, container: Container
) -> None:
    a = await make_offer(container, quantity=5, title="Slow Kettle", price=1000)
    b = await make_offer(container, quantity=5, title="Fast Kettle", price=1000)
    await logged_in(client)
    for offer in (a, b):
        await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "1"})
    first = await post(client, "/checkout", {**ADDRESS, "shipping_method": "standard", "action": "quote"})
    assert f'name="ship:{a.seller_id}"' in first.text and f'name="ship:{b.seller_id}"' in first.text
    total_standard = re.search(r'id="order-total">([^<]+)<', first.text)
    picked = {
        **ADDRESS,
        "shipping_method": "standard",
        "quoted_method": "standard",
        "action": "quote",
        f"ship:{a.seller_id}": "standard",
        f"ship:{b.seller_id}": "express",
    }
    second = await post(client, "/checkout", picked)
    assert second.status_code == 200
    total_mixed = re.search(r'id="order-total">([^<]+)<', second.text)
    assert total_standard and total_mixed and total_standard.group(1) != total_mixed.group(1)
    assert re.search(rf'name="ship:{b.seller_id}">.*?<option value="express" selected', second.text, re.S)
    # changing the overall speed starts every seller afresh
    reset = await post(client, "/checkout", {**picked, "shipping_method": "expedited"})
    assert re.search(rf'name="ship:{b.seller_id}">.*?<option value="expedited" selected', reset.text, re.S)


async def test_discounted_offers_show_their_was_price_on_home_and_product_pages(
    client: httpx.AsyncClient, container: Container
) -> None:
    from sqlalchemy import update

    from bazaar.catalog.models import Offer

    offer = await make_offer(container, quantity=5, title="Deal Kettle", price=2000)
    plain = await make_offer(container, quantity=5, title="Plain Kettle", price=2000)
    async with container.uow() as uow:
        await uow.session.execute(update(Offer).where(Offer.id == offer.id).values(list_price_amount=2500))
        await uow.commit()
    home = (await client.get("/")).text
    assert "Deal Kettle" in home and "20% off" in home and "Plain Kettle" not in home
    page = (await client.get(f"/p/{offer.product_id}")).text
    assert "was $25.00" in page
    api = (await client.get(f"{API}/products/{offer.product_id}")).json()
    assert api["offers"][0]["list_price"] == {"amount": 2500, "currency": "USD"}
    assert (await client.get(f"{API}/products/{plain.product_id}")).json()["offers"][0]["list_price"] is None
