"""Carts over HTTP, on both backends: anonymous and logged-in carts, fresh prices and stock, merge at login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from bazaar.bootstrap import Container
from bazaar.cart.models import Cart
from bazaar.kernel.clock import aware
from tests.e2e.test_accounts import assert_error
from tests.helpers import API, register
from tests.inventory_factories import make_offer, restock, set_price, set_status


async def add(client: httpx.AsyncClient, offer_id: str, quantity: int, **headers: str) -> httpx.Response:
    return await client.post(f"{API}/cart/items", json={"offer_id": offer_id, "quantity": quantity}, headers=headers)


def anon(cart_id: str) -> dict[str, str]:
    return {"X-Cart-Id": cart_id}


async def log_in(client: httpx.AsyncClient, email: str, cart_id: str | None = None) -> tuple[dict[str, str], Any]:
    body = {"email": email, "password": "correct horse battery"}
    if cart_id:
        body["cart_id"] = cart_id
    r = await client.post(f"{API}/auth/login", json=body)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}, r.json()


async def test_anonymous_cart_is_created_by_the_first_add(client: httpx.AsyncClient, container: Container) -> None:
    offer = await make_offer(container, quantity=10, price=2500, title="Blue Kettle")
    empty = await client.get(f"{API}/cart")
    assert empty.status_code == 200
    zero = {"amount": 0, "currency": "USD"}
    assert empty.json() == {
        "id": None,
        "items": [],
        "subtotal": zero,
        "discounts": [],
        "discount": zero,
        "total": zero,
        "warnings": [],
    }

    r = await add(client, offer.id, 2)
    assert r.status_code == 200, r.text
    cart = r.json()
    assert len(cart["id"]) >= 40  # an unguessable secret, not a sequential id
    assert r.cookies.get("bazaar_cart") == cart["id"]
    [item] = cart["items"]
    assert item["offer_id"] == offer.id and item["product_id"] == offer.product_id
    assert item["title"] == "Blue Kettle" and item["quantity"] == 2
    assert item["unit_price"] == item["price_at_add"] == {"amount": 2500, "currency": "USD"}
    assert item["price_changed"] is False
    assert (item["availability"], item["available_quantity"]) == ("in_stock", 10)
    assert cart["subtotal"] == {"amount": 5000, "currency": "USD"}

    again = await add(client, offer.id, 3, **anon(cart["id"]))
    assert again.json()["id"] == cart["id"]
    assert again.json()["items"][0]["quantity"] == 5
    read = (await client.get(f"{API}/cart", headers=anon(cart["id"]))).json()
    assert read["items"][0]["quantity"] == 5
    # The cookie works as well as the header (the storefront's way).
    client.cookies.set("bazaar_cart", cart["id"])
    assert (await client.get(f"{API}/cart")).json()["id"] == cart["id"]


async def test_adding_more_than_available_is_409_and_changes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    offer = await make_offer(container, quantity=3)
    err = assert_error(await add(client, offer.id, 4), 409, "insufficient_stock")
    assert err["details"]["available"] == 3
    cart_id = (await add(client, offer.id, 2)).json()["id"]
    err = assert_error(await add(client, offer.id, 2, **anon(cart_id)), 409, "insufficient_stock")
    assert err["details"] == {"offer_id": offer.id, "requested": 4, "available": 3, "in_cart": 2}
    assert (await client.get(f"{API}/cart", headers=anon(cart_id))).json()["items"][0]["quantity"] == 2
    assert_error(await add(client, "no-such-offer", 1), 404, "offer_not_found")
    assert_error(await add(client, offer.id, 0), 422, "validation_error")


async def test_change_and_remove_lines(client: httpx.AsyncClient, container: Container) -> None:
    a = await make_offer(container, quantity=4)
    b = await make_offer(container, quantity=9)
    cart_id = (await add(client, a.id, 1)).json()["id"]
    cart = (await add(client, b.id, 2, **anon(cart_id))).json()
    item_a, item_b = cart["items"]
    assert item_a["offer_id"] == a.id  # lines keep the order they were added

    r = await client.patch(f"{API}/cart/items/{item_a['id']}", json={"quantity": 4}, headers=anon(cart_id))
    assert r.status_code == 200 and r.json()["items"][0]["quantity"] == 4
    r = await client.patch(f"{API}/cart/items/{item_a['id']}", json={"quantity": 5}, headers=anon(cart_id))
    assert_error(r, 409, "insufficient_stock")
    r = await client.patch(f"{API}/cart/items/{item_a['id']}", json={"quantity": 0}, headers=anon(cart_id))
    assert [i["offer_id"] for i in r.json()["items"]] == [b.id]
    r = await client.delete(f"{API}/cart/items/{item_b['id']}", headers=anon(cart_id))
    assert r.status_code == 200 and r.json()["items"] == []
    assert_error(
        await client.delete(f"{API}/cart/items/{item_b['id']}", headers=anon(cart_id)), 404, "cart_item_not_found"
    )
    # Another cart's line is not reachable with this cart's id.
    client.cookies.clear()  # a different browser
    other = (await add(client, b.id, 1)).json()
    assert other["id"] != cart_id
    r = await client.patch(f"{API}/cart/items/{other['items'][0]['id']}", json={"quantity": 2}, headers=anon(cart_id))
    assert_error(r, 404, "cart_item_not_found")


async def test_reads_show_todays_prices_and_stock(client: httpx.AsyncClient, container: Container) -> None:
    kettle = await make_offer(container, quantity=20, price=1000)
    lamp = await make_offer(container, quantity=20, price=3000)
    cart_id = (await add(client, kettle.id, 3)).json()["id"]
    await add(client, lamp.id, 1, **anon(cart_id))

    await set_price(container, kettle.id, 1200)
    await restock(container, lamp, 4)
    cart = (await client.get(f"{API}/cart", headers=anon(cart_id))).json()
    k, lp = cart["items"]
    assert k["unit_price"]["amount"] == 1200 and k["price_at_add"]["amount"] == 1000 and k["price_changed"]
    assert (lp["availability"], lp["available_quantity"]) == ("low_stock", 4)
    codes = {(w["item_id"], w["code"]) for w in cart["warnings"]}
    assert codes == {(k["id"], "price_changed"), (lp["id"], "low_stock")}
    assert "$10.00 to $12.00" in next(w["message"] for w in cart["warnings"] if w["code"] == "price_changed")
    assert cart["subtotal"]["amount"] == 3 * 1200 + 3000

    await restock(container, kettle, 2)
    await restock(container, lamp, 0)
    cart = (await client.get(f"{API}/cart", headers=anon(cart_id))).json()
    codes = {(w["item_id"], w["code"]) for w in cart["warnings"]}
    assert (k["id"], "insufficient_stock") in codes and (lp["id"], "out_of_stock") in codes

    await set_status(container, lamp.id, "inactive")
    cart = (await client.get(f"{API}/cart", headers=anon(cart_id))).json()
    assert (lp["id"], "offer_unavailable") in {(w["item_id"], w["code"]) for w in cart["warnings"]}
    assert cart["subtotal"]["amount"] == 3 * 1200  # a line that can no longer be bought is not counted


async def test_a_users_cart_follows_them_across_devices(client: httpx.AsyncClient, container: Container) -> None:
    offer = await make_offer(container, quantity=5)
    user = await register(client)
    phone, _ = await log_in(client, user["email"])
    laptop, _ = await log_in(client, user["email"])
    cart = (await add(client, offer.id, 2, **phone)).json()
    assert "bazaar_cart" not in (await add(client, offer.id, 1, **phone)).cookies
    seen = (await client.get(f"{API}/cart", headers=laptop)).json()
    assert seen["id"] == cart["id"] and seen["items"][0]["quantity"] == 3
    # A user's cart id is no anonymous cart: sending it without the token shows nothing.
    assert (await client.get(f"{API}/cart", headers=anon(cart["id"]))).json()["items"] == []
    assert_error(await client.get(f"{API}/cart", headers={"Authorization": "Bearer nope"}), 401, "not_authenticated")


async def test_login_merges_the_anonymous_cart_capped_by_stock(client: httpx.AsyncClient, container: Container) -> None:
    scarce = await make_offer(container, quantity=3, title="Scarce Lamp")
    plenty = await make_offer(container, quantity=50)
    gone = await make_offer(container, quantity=5, title="Vanishing Vase")
    user = await register(client)
    headers, _ = await log_in(client, user["email"])
    await add(client, scarce.id, 2, **headers)

    cart_id = (await add(client, scarce.id, 2)).json()["id"]
    await add(client, plenty.id, 4, **anon(cart_id))
    await add(client, gone.id, 1, **anon(cart_id))
    await restock(container, gone, 0)
    await set_price(container, plenty.id, 999)

    headers, result = await log_in(client, user["email"], cart_id)
    cart = (await client.get(f"{API}/cart", headers=headers)).json()
    assert result["cart_id"] == cart["id"] != cart_id
    quantities = {i["offer_id"]: i["quantity"] for i in cart["items"]}
    assert quantities == {scarce.id: 3, plenty.id: 4}
    codes = {w["code"]: w for w in cart["warnings"]}
    assert "Scarce Lamp" in codes["merge_quantity_capped"]["message"]
    assert "Vanishing Vase" in codes["merge_removed"]["message"]
    assert codes["price_changed"]["item_id"] == next(i["id"] for i in cart["items"] if i["offer_id"] == plenty.id)

    # The anonymous cart is spent: it reads empty and a second login with it adds nothing.
    zero = {"amount": 0, "currency": "USD"}
    assert (await client.get(f"{API}/cart", headers=anon(cart_id))).json() == {
        "id": None,
        "items": [],
        "subtotal": zero,
        "discounts": [],
        "discount": zero,
        "total": zero,
        "warnings": [],
    }
    headers, again = await log_in(client, user["email"], cart_id)
    assert again["cart_id"] == cart["id"]
    after = (await client.get(f"{API}/cart", headers=headers)).json()
    assert {i["offer_id"]: i["quantity"] for i in after["items"]} == quantities
    # The next change to the cart clears the merge notices.
    assert {"merge_quantity_capped", "merge_removed"} <= {w["code"] for w in after["warnings"]}
    r = await client.patch(f"{API}/cart/items/{after['items'][1]['id']}", json={"quantity": 1}, headers=headers)
    assert not {w["code"] for w in r.json()["warnings"]} & {"merge_quantity_capped", "merge_removed"}
    read = (await client.get(f"{API}/cart", headers=headers)).json()
    assert not {w["code"] for w in read["warnings"]} & {"merge_quantity_capped", "merge_removed"}


async def test_login_without_a_cart_reports_the_users_cart(client: httpx.AsyncClient, container: Container) -> None:
    user = await register(client)
    _, result = await log_in(client, user["email"])
    assert result["cart_id"] is None
    _, result = await log_in(client, user["email"], "a-cart-id-nobody-has")
    assert result["cart_id"] is None


async def test_the_storefront_cookie_cart_is_merged_at_login(client: httpx.AsyncClient, container: Container) -> None:
    offer = await make_offer(container, quantity=5)
    user = await register(client)
    await add(client, offer.id, 2)  # the browser keeps the cart in the bazaar_cart cookie
    headers, result = await log_in(client, user["email"])
    cart = (await client.get(f"{API}/cart", headers=headers)).json()
    assert result["cart_id"] == cart["id"]
    assert [i["quantity"] for i in cart["items"]] == [2]


async def test_a_cart_written_by_a_node_whose_clock_runs_ahead_still_moves_forward(
    client: httpx.AsyncClient, container: Container
) -> None:
    """A cart's version is the time of its last write. A node whose clock runs ahead leaves a version past this
    node's now: the next write here must still move it on (a microsecond), or a reader would keep the copy that
    lacks the new line."""
    first, second = await make_offer(container, quantity=5), await make_offer(container, quantity=5)
    cart_id = (await add(client, first.id, 1)).json()["id"]
    ahead = datetime.now(UTC) + timedelta(hours=1)
    async with container.uow() as uow:
        await uow.session.execute(update(Cart).where(Cart.id == cart_id).values(updated_at=ahead))
        await uow.commit()
    await client.get(f"{API}/cart", headers=anon(cart_id))  # the active-cart store now holds that version

    r = await add(client, second.id, 2, **anon(cart_id))
    assert r.status_code == 200, r.text
    assert sorted(i["quantity"] for i in r.json()["items"]) == [1, 2]
    async with container.read_uow() as uow:
        version = (await uow.session.execute(select(Cart.updated_at).where(Cart.id == cart_id))).scalar_one()
    assert aware(version) == ahead + timedelta(microseconds=1)
    seen = (await client.get(f"{API}/cart", headers=anon(cart_id))).json()
    assert sorted(i["quantity"] for i in seen["items"]) == [1, 2]  # not the store's older copy

    items = seen["items"]
    changed = await client.patch(f"{API}/cart/items/{items[0]['id']}", json={"quantity": 3}, headers=anon(cart_id))
    assert changed.status_code == 200, changed.text
    async with container.read_uow() as uow:
        version = (await uow.session.execute(select(Cart.updated_at).where(Cart.id == cart_id))).scalar_one()
    assert aware(version) == ahead + timedelta(microseconds=2)
    again = (await client.get(f"{API}/cart", headers=anon(cart_id))).json()
    assert {i["id"]: i["quantity"] for i in again["items"]}[items[0]["id"]] == 3


async def test_a_merged_cart_keeps_the_version_its_lock_set(client: httpx.AsyncClient, container: Container) -> None:
    """Merging an anonymous cart at login marks it merged at the version its lock moved it to, the version its
    copy in the active-cart store carries: never now instead (for a cart written ahead of this node's clock,
    that would be a version going backwards)."""
    offer = await make_offer(container, quantity=5)
    user = await register(client)
    cart_id = (await add(client, offer.id, 1)).json()["id"]
    ahead = datetime.now(UTC) + timedelta(hours=1)
    async with container.uow() as uow:
        await uow.session.execute(update(Cart).where(Cart.id == cart_id).values(updated_at=ahead))
        await uow.commit()

    headers, _ = await log_in(client, user["email"], cart_id)
    async with container.read_uow() as uow:
        status, version = (
            await uow.session.execute(select(Cart.status, Cart.updated_at).where(Cart.id == cart_id))
        ).one()
    assert status == "merged" and aware(version) == ahead + timedelta(microseconds=1)
    mine = (await client.get(f"{API}/cart", headers=headers)).json()
    assert [i["quantity"] for i in mine["items"]] == [1]
