"""Guest checkout: an email and an anonymous cart place an order with the same guarantees as an account;
the access link shows it; registering with the email claims it. Also checkout from the address book."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bazaar.inventory.models import Reservation
from bazaar.workers import mail_sender
from tests.helpers import API, drain_events, login, new_user
from tests.inventory_factories import levels, make_offer
from tests.smtp_server import SmtpServer, text_of

ADDRESS = {
    "name": "Gus Guest",
    "line1": "5 Elm St",
    "city": "Denver",
    "region": "CO",
    "postal_code": "80202",
    "country": "US",
}
APPROVE, DECLINE = "4242424242424242", "4000000000000002"


def body(email: str | None = "gus@example.com", card: str = APPROVE, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "shipping_address": ADDRESS,
        "shipping_method": "standard",
        "payment": {"card_number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        **over,
    }
    if email is not None:
        data["email"] = email
    return data


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings_factory, smtp):  # type: ignore[no-untyped-def]
    return settings_factory(
        smtp_url=smtp.url,
        public_url="http://shop.test",
        capture_delay_seconds=0,
        guest_checkout_email_limit_per_minute=50,
    )


async def guest_cart(client: Any, container: Any, *, quantity: int = 2, stock: int = 10) -> tuple[str, Any]:
    offer = await make_offer(container, quantity=stock, price=1500, title="Travel mug")
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": quantity})
    assert r.status_code == 200, r.text
    return str(r.json()["id"]), offer


async def guest_checkout(client: Any, cart_id: str, key: str = "g1", **kw: Any) -> Any:
    return await client.post(f"{API}/checkout", json=body(**kw), headers={"X-Cart-Id": cart_id, "Idempotency-Key": key})


async def test_guest_buys_sees_the_order_by_link_and_claims_it_by_registering(
    client: Any, container: Any, smtp: SmtpServer
) -> None:
    cart_id, offer = await guest_cart(client, container)
    placed = await guest_checkout(client, cart_id)
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "completed" and answer["access_token"]
    order_id, token = answer["order_id"], answer["access_token"]

    seen = await client.get(f"{API}/orders/{order_id}", params={"access": token})
    assert seen.status_code == 200, seen.text
    assert seen.json()["lines"][0]["title"] == "Travel mug" and seen.json()["lines"][0]["quantity"] == 2
    assert (await client.get(f"{API}/orders/{order_id}", params={"access": token[:-2] + "xx"})).status_code == 404
    assert (await client.get(f"{API}/orders/{order_id}")).status_code == 401
    assert (await client.get(f"{API}/checkout/{answer['id']}", params={"access": token})).json()["order_id"] == order_id
    assert (await client.get(f"{API}/cart", headers={"X-Cart-Id": cart_id})).json()["items"] == []  # emptied
    assert (await levels(container, offer.id)) == (8, 8)

    # The same key and body answer the same order and link; another body with the key is refused.
    again = await guest_checkout(client, cart_id)
    assert again.status_code == 201 and again.json()["order_id"] == order_id and again.json()["access_token"] == token
    reused = await guest_checkout(client, cart_id, email="gus@example.com", shipping_method="express")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"

    # The confirmation email carries the order number, the total and the access link.
    await drain_events(container)
    while await mail_sender.run_once(container):
        pass
    [mail] = smtp.to("gus@example.com")
    assert order_id[-8:] in mail["Subject"]
    assert f"http://shop.test/orders/{order_id}?access={token}" in text_of(mail)
    assert "$30.00" in text_of(mail)

    # A guest cannot log in; registering with the email makes the orders the account's.
    r = await client.post(f"{API}/auth/login", json={"email": "gus@example.com", "password": "anything at all"})
    assert r.status_code == 401
    r = await client.post(
        f"{API}/auth/register", json={"email": "Gus@Example.com", "password": "correct horse battery", "name": "Gus"}
    )
    assert r.status_code == 201, r.text
    headers = await login(client, "gus@example.com")
    mine = (await client.get(f"{API}/orders", headers=headers)).json()
    assert [o["id"] for o in mine["items"]] == [order_id]
    assert (await client.get(f"{API}/orders/{order_id}", headers=headers)).status_code == 200
    taken = await client.post(
        f"{API}/auth/register", json={"email": "gus@example.com", "password": "another password", "name": "Eve"}
    )
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "email_taken"


async def test_guest_checkout_refusals_change_nothing(client: Any, container: Any) -> None:
    cart_id, offer = await guest_cart(client, container, quantity=3, stock=3)
    no_email = await guest_checkout(client, cart_id, email=None)
    assert no_email.status_code == 401
    no_cart = await client.post(f"{API}/checkout", json=body(), headers={"Idempotency-Key": "x"})
    assert no_cart.status_code == 422 and no_cart.json()["error"]["code"] == "cart_required"
    no_key = await client.post(f"{API}/checkout", json=body(), headers={"X-Cart-Id": cart_id})
    assert no_key.status_code == 400 and no_key.json()["error"]["code"] == "idempotency_key_required"
    bad_email = await guest_checkout(client, cart_id, email="not-an-email")
    assert bad_email.status_code == 422
    saved = await client.post(
        f"{API}/checkout",
        json={**body(), "shipping_address": None, "shipping_address_id": "whatever"},
        headers={"X-Cart-Id": cart_id, "Idempotency-Key": "y"},
    )
    assert saved.status_code == 422
    declined = await guest_checkout(client, cart_id, key="d1", card=DECLINE)
    assert declined.status_code == 402
    stranger = await guest_checkout(client, "not-a-cart", key="s1")
    assert stranger.status_code == 422 and stranger.json()["error"]["code"] == "cart_empty"
    async with container.read_uow() as uow:
        held = (await uow.session.execute(select(func.count()).where(Reservation.status == "held"))).scalar_one()
    assert held == 0 and (await levels(container, offer.id)) == (3, 3)
    # A user's cart cannot be ordered by a guest who learned its id.
    client.cookies.clear()  # another browser: logging in would merge the guest's cart
    _, h = await new_user(client)
    mine = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1}, headers=h)
    assert mine.status_code == 200, mine.text
    taken = await guest_checkout(client, mine.json()["id"], key="u1")
    assert taken.status_code == 422 and taken.json()["error"]["code"] == "cart_empty"


async def test_guest_checkout_is_rate_limited_per_email(settings_factory: Any, smtp: SmtpServer) -> None:
    import httpx

    from bazaar.bootstrap import build_container
    from bazaar.web.app import create_app
    from tests.conftest import truncate_all

    settings = settings_factory(guest_checkout_email_limit_per_minute=2, smtp_url=smtp.url)
    container = build_container(settings)
    if not settings.is_sqlite:
        await truncate_all(container)
    try:
        transport = httpx.ASGITransport(app=create_app(container=container))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            codes = []
            for n in range(3):
                r = await client.post(
                    f"{API}/checkout",
                    json=body(email="flood@example.com"),
                    headers={"X-Cart-Id": "c", "Idempotency-Key": str(n)},
                )
                codes.append(r.status_code)
            assert codes[:2] == [422, 422] and codes[2] == 429
            assert r.headers["retry-after"]
    finally:
        await container.close()


async def test_checkout_with_a_saved_address(client: Any, container: Any) -> None:
    offer = await make_offer(container, quantity=5, price=1000)
    _, h = await new_user(client)
    saved = (await client.post(f"{API}/me/addresses", json={**ADDRESS, "label": "Home"}, headers=h)).json()
    await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1}, headers=h)
    quote = await client.post(f"{API}/checkout/quote", json={"shipping_address_id": saved["id"]}, headers=h)
    assert quote.status_code == 200, quote.text
    request = {**body(email=None), "shipping_address": None, "shipping_address_id": saved["id"]}
    placed = await client.post(f"{API}/checkout", json=request, headers={**h, "Idempotency-Key": "a1"})
    assert placed.status_code == 201, placed.text
    order = (await client.get(f"{API}/orders/{placed.json()['order_id']}", headers=h)).json()
    assert order["shipping_address"]["line1"] == "5 Elm St" and order["shipping_address"]["region"] == "CO"
    _, other = await new_user(client)
    await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1}, headers=other)
    stolen = await client.post(f"{API}/checkout", json=request, headers={**other, "Idempotency-Key": "a2"})
    assert stolen.status_code == 404
    both = await client.post(
        f"{API}/checkout",
        json={**body(email=None), "shipping_address_id": saved["id"]},
        headers={**h, "Idempotency-Key": "a3"},
    )
    assert both.status_code == 422


async def test_a_guest_with_an_accounts_email_orders_into_that_account(client: Any, container: Any) -> None:
    user, headers = await new_user(client)
    client.cookies.clear()
    cart_id, _ = await guest_cart(client, container, quantity=1)
    placed = await guest_checkout(client, cart_id, email=user["email"].upper())
    assert placed.status_code == 201, placed.text
    mine = (await client.get(f"{API}/orders", headers=headers)).json()
    assert [o["id"] for o in mine["items"]] == [placed.json()["order_id"]]


async def test_the_same_new_email_checking_out_twice_at_once(client: Any, container: Any, pg_only: None) -> None:
    """Two carts, one new email, in parallel on PostgreSQL: one guest identity, two orders."""
    import asyncio

    carts = []
    for _ in range(2):
        client.cookies.clear()
        carts.append((await guest_cart(client, container, quantity=1))[0])
    client.cookies.clear()
    answers = await asyncio.gather(
        *(guest_checkout(client, cart, key=f"par{n}", email="twice@example.com") for n, cart in enumerate(carts))
    )
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    await client.post(
        f"{API}/auth/register", json={"email": "twice@example.com", "password": "correct horse battery", "name": "T"}
    )
    headers = await login(client, "twice@example.com")
    assert (await client.get(f"{API}/orders", headers=headers)).json()["total"] == 2
