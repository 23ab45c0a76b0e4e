"""Storefront pages for buyers' conveniences: guest checkout by form, the address book at checkout,
the wish list and "notify me" buttons, recently viewed and email settings."""

from __future__ import annotations

import re

import httpx
import pytest

from bazaar.bootstrap import Container
from tests.e2e.test_storefront import ADDRESS, APPROVE, csrf, logged_in, post
from tests.helpers import API
from tests.inventory_factories import make_offer


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


def card(**extra: str) -> dict[str, str]:
    return {"card_number": APPROVE, "exp_month": "12", "exp_year": "2035", "cvc": "123", **extra}


async def test_guest_checks_out_by_form_and_follows_the_order_by_link(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=5, price=1250, title="Picnic blanket")
    assert (await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "2"})).status_code == 303
    form = await client.get("/checkout")
    assert form.status_code == 200 and 'name="email"' in form.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form.text)
    assert key is not None
    missing_email = await post(client, "/checkout", {**ADDRESS, **card(), "action": "place", "idempotency_key": "k0"})
    assert missing_email.status_code == 422 and "email" in missing_email.text.lower()
    placed = await post(
        client,
        "/checkout",
        {**ADDRESS, **card(), "email": "Picnic@Example.com", "action": "place", "idempotency_key": key.group(1)},
    )
    assert placed.status_code == 303, placed.text
    assert re.match(r"^/checkout/\w+\?access=", placed.headers["location"])
    confirmation = await client.get(placed.headers["location"])
    assert "your order is placed" in confirmation.text
    link = re.search(r'href="(/orders/\w+\?access=[^"]+)"', confirmation.text)
    assert link is not None
    client.cookies.clear()  # the link works in any browser
    order = await client.get(link.group(1).replace("&amp;", "&"))
    assert order.status_code == 200 and "Picnic blanket" in order.text and "through its link" in order.text
    assert "Cancel this order" not in order.text
    forged = await client.get(re.sub(r"access=.*", "access=nope", link.group(1)))
    assert forged.status_code == 404


async def test_checkout_picks_a_saved_address_and_saves_a_new_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=5, price=900, title="Desk fan")
    await logged_in(client)
    saved = await post(client, "/account/addresses", {**ADDRESS, "label": "Home", "line1": "7 Saved Way"})
    assert saved.status_code == 303
    book = await client.get("/account/addresses")
    assert "7 Saved Way" in book.text and "Default" in book.text
    await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "1"})
    form = await client.get("/checkout")
    address_id = re.search(r'name="address_id" value="(\w+)" checked', form.text)
    assert address_id is not None  # the default address is chosen already
    placed = await post(
        client, "/checkout", {**card(), "address_id": address_id.group(1), "action": "place", "idempotency_key": "s1"}
    )
    assert placed.status_code == 303, placed.text
    headers = {"Authorization": f"Bearer {client.cookies['bazaar_session']}"}
    orders = (await client.get(f"{API}/orders", headers=headers)).json()
    order = (await client.get(f"{API}/orders/{orders['items'][0]['id']}", headers=headers)).json()
    assert order["shipping_address"]["line1"] == "7 Saved Way"
    # A new address typed at checkout, kept with "save this address".
    await post(client, "/cart/add", {"offer_id": offer.id, "quantity": "1"})
    placed = await post(
        client,
        "/checkout",
        {
            **ADDRESS,
            **card(),
            "line1": "8 New Rd",
            "address_id": "new",
            "save_address": "1",
            "action": "place",
            "idempotency_key": "s2",
        },
    )
    assert placed.status_code == 303, placed.text
    listed = (await client.get(f"{API}/me/addresses", headers=headers)).json()
    assert sorted(a["line1"] for a in listed) == ["7 Saved Way", "8 New Rd"]


async def test_wishlist_and_notify_me_buttons(client: httpx.AsyncClient, container: Container) -> None:
    in_stock = await make_offer(container, quantity=5, price=4200, title="Rain jacket")
    sold_out = await make_offer(container, quantity=0, price=3100, title="Snow boots")
    anonymous = await client.get(f"/p/{sold_out.product_id}")
    assert "Log in</a> to save it to your wish list or to be told when it is back" in anonymous.text
    await logged_in(client)
    page = await client.get(f"/p/{in_stock.product_id}")
    assert "Save to wish list" in page.text and "Notify me" not in page.text
    saved = await post(
        client, f"/wishlist/{in_stock.product_id}", {"action": "add", "next": f"/p/{in_stock.product_id}"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/p/{in_stock.product_id}"
    assert "On your wish list" in (await client.get(f"/p/{in_stock.product_id}")).text
    page = await client.get(f"/p/{sold_out.product_id}")
    assert "Notify me when it is back" in page.text
    asked = await post(client, f"/notify/{sold_out.product_id}", {"action": "notify"})
    assert asked.status_code == 303
    assert "We will email you when it is back" in (await client.get(f"/p/{sold_out.product_id}")).text
    wishlist = await client.get("/wishlist")
    assert "Rain jacket" in wishlist.text and "Snow boots" in wishlist.text  # wished, and waiting for stock
    removed = await post(client, f"/wishlist/{in_stock.product_id}", {"action": "remove"})
    assert removed.status_code == 303 and "Rain jacket" not in (await client.get("/wishlist")).text
    account = await client.get("/account")
    assert "Recently viewed" in account.text and "Snow boots" in account.text


async def test_email_settings_page(client: httpx.AsyncClient) -> None:
    await logged_in(client)
    page = await client.get("/account/email")
    assert 'name="kind:order_placed" value="1" checked' in page.text
    everything_but = {"kind:order_shipped": "1", "kind:back_in_stock": "1"}
    assert (await post(client, "/account/email", everything_but)).status_code == 303
    page = await client.get("/account/email")
    assert 'name="kind:order_placed" value="1" checked' not in page.text
    assert 'name="kind:back_in_stock" value="1" checked' in page.text
    assert (await client.post("/account/email", data={"kind:order_placed": "1"})).status_code == 403  # no CSRF token
    assert await csrf(client)
