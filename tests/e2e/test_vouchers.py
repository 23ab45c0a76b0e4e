"""Sellers' vouchers over HTTP: applied to that seller's lines in the cart, the quote, checkout and the order; refunds
account for them; limits hold; a failed checkout or a cancelled order gives the use back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.kernel.clock import utcnow
from tests.e2e.test_checkout import ADDRESS, APPROVE, DECLINE
from tests.e2e.test_orders import order, seller_with_offers
from tests.e2e.test_reviews import deliver
from tests.e2e.test_storefront import PASSWORD, logged_in, post
from tests.helpers import API, drain_events, login, new_user
from tests.inventory_factories import MadeOffer


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


def voucher(code: str, **over: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "code": code,
        "kind": "percent",
        "value": 10,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        **over,
    }


async def create(client: httpx.AsyncClient, seller: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{API}/sellers/me/vouchers", json=body, headers=seller)


async def fill_cart(client: httpx.AsyncClient, buyer: dict[str, str], *lines: tuple[MadeOffer, int]) -> None:
    for offer, qty in lines:
        r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": qty}, headers=buyer)
        assert r.status_code == 200, r.text


async def checkout(client: httpx.AsyncClient, buyer: dict[str, str], key: str, card: str = APPROVE) -> httpx.Response:
    return await client.post(
        f"{API}/checkout",
        headers={**buyer, "Idempotency-Key": key},
        json={
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"card_number": card, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        },
    )


async def test_a_voucher_in_cart_quote_checkout_order_and_refund(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, _, (a, b) = await seller_with_offers(client, container, 10, 10, price=1000)
    _, other_seller_offers = (await seller_with_offers(client, container, 10, price=3000))[1:]
    (other,) = other_seller_offers
    assert (
        await create(client, seller, voucher("save10", min_subtotal={"amount": 2000, "currency": "USD"}))
    ).status_code == 201
    _, buyer = await new_user(client)
    await fill_cart(client, buyer, (a, 1), (other, 1))
    below = await client.post(f"{API}/cart/voucher", json={"code": "SAVE10"}, headers=buyer)
    assert below.status_code == 422 and below.json()["error"]["code"] == "voucher_not_applicable"
    await fill_cart(client, buyer, (b, 2))  # now $30 of this seller's items
    cart = (await client.post(f"{API}/cart/voucher", json={"code": "save10"}, headers=buyer)).json()
    assert cart["discounts"] == [
        {"code": "SAVE10", "seller_id": a.seller_id, "amount": {"amount": 300, "currency": "USD"}}
    ]
    assert cart["subtotal"]["amount"] == 6000 and cart["total"]["amount"] == 5700

    quote = (await client.post(f"{API}/checkout/quote", json={"shipping_address": ADDRESS}, headers=buyer)).json()
    assert quote["discount"]["amount"] == 300 and quote["discounts"][0]["code"] == "SAVE10"
    parts = quote["subtotal"]["amount"] - 300 + quote["shipping"]["amount"] + quote["tax"]["amount"]
    assert quote["total"]["amount"] == parts
    shares = {li["offer_id"]: li["discount"]["amount"] for li in quote["lines"]}
    assert shares == {a.id: 100, b.id: 200, other.id: 0}  # in proportion to the seller's lines

    r = await checkout(client, buyer, "v-1")
    assert r.status_code == 201, r.text
    placed = await order(client, buyer, r.json()["order_id"])
    assert placed["discounts"][0]["amount"]["amount"] == 300 and placed["discount"]["amount"] == 300
    assert placed["total"] == quote["total"] and placed["payment"]["authorized"] == quote["total"]
    assert (await client.get(f"{API}/cart", headers=buyer)).json()["discounts"] == []  # its items left the cart

    # the seller's view shows their voucher; a returned line refunds what was paid for it
    await deliver(client, container, seller, placed["id"])
    line_b = next(li for li in placed["lines"] if li["offer_id"] == b.id)
    ret = await client.post(
        f"{API}/orders/{placed['id']}/returns",
        json={"lines": [{"order_line_id": line_b["id"], "quantity": 1}], "reason": "too many"},
        headers=buyer,
    )
    assert ret.status_code == 201, ret.text
    received = await client.post(f"{API}/sellers/me/returns/{ret.json()['id']}/receive", headers=seller)
    assert received.status_code == 200, received.text
    tax_per_unit = line_b["tax"]["amount"] // 2
    assert received.json()["refund"]["amount"] == 1000 - 100 + tax_per_unit


async def test_adding_to_a_cart_with_a_code_answers_with_its_discount_anew(
    client: httpx.AsyncClient, container: Container
) -> None:
    """An add reads whether the cart has codes in the same statement as its lines; a cart with one must still
    answer the discount as it now stands."""
    seller, _, (a, b) = await seller_with_offers(client, container, 10, 10, price=1000)
    assert (await create(client, seller, voucher("more10"))).status_code == 201
    _, buyer = await new_user(client)
    await fill_cart(client, buyer, (a, 1))
    applied = await client.post(f"{API}/cart/voucher", json={"code": "MORE10"}, headers=buyer)
    assert applied.status_code == 200 and applied.json()["discount"]["amount"] == 100, applied.text

    added = await client.post(f"{API}/cart/items", json={"offer_id": b.id, "quantity": 2}, headers=buyer)
    assert added.status_code == 200, added.text
    cart = added.json()
    assert cart["discounts"] == [
        {"code": "MORE10", "seller_id": a.seller_id, "amount": {"amount": 300, "currency": "USD"}}
    ]
    assert (cart["subtotal"]["amount"], cart["total"]["amount"]) == (3000, 2700)
    again = await client.post(f"{API}/cart/items", json={"offer_id": a.id, "quantity": 1}, headers=buyer)
    assert again.json()["discount"]["amount"] == 400  # a line already in the cart, the code still counted


async def test_bad_codes_are_refused_and_change_nothing(client: httpx.AsyncClient, container: Container) -> None:
    seller, _, (a,) = await seller_with_offers(client, container, 10)
    now = utcnow()
    bad = [
        voucher("PCT", value=101),
        voucher("BACKWARDS", ends_at=(now - timedelta(days=2)).isoformat()),
        voucher("x"),
    ]
    for body in bad:
        assert (await create(client, seller, body)).status_code == 422, body
    assert (
        await create(
            client,
            seller,
            voucher(
                "LATER", starts_at=(now + timedelta(days=1)).isoformat(), ends_at=(now + timedelta(days=2)).isoformat()
            ),
        )
    ).status_code == 201
    assert (await create(client, seller, voucher("TAKEN"))).status_code == 201
    assert (await create(client, seller, voucher("taken"))).status_code == 409
    _, buyer = await new_user(client)
    await fill_cart(client, buyer, (a, 1))
    unknown = await client.post(f"{API}/cart/voucher", json={"code": "NOPE"}, headers=buyer)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "voucher_not_found"
    later = await client.post(f"{API}/cart/voucher", json={"code": "LATER"}, headers=buyer)
    assert later.status_code == 409 and later.json()["error"]["code"] == "voucher_not_active"
    assert (await client.get(f"{API}/cart", headers=buyer)).json()["discounts"] == []
    applied = await client.post(f"{API}/cart/voucher", json={"code": "TAKEN"}, headers=buyer)
    assert applied.json()["discount"]["amount"] == a.price // 10
    removed = await client.delete(f"{API}/cart/voucher", headers=buyer)
    assert removed.status_code == 200 and removed.json()["discounts"] == []


async def test_limits_declines_and_cancellations_give_uses_back(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, _, (a,) = await seller_with_offers(client, container, 10)
    made = await create(client, seller, voucher("ONCE", kind="fixed", value=500, max_uses=1))
    assert made.status_code == 201
    first, second = [(await new_user(client))[1] for _ in range(2)]
    for buyer in (first, second):
        await fill_cart(client, buyer, (a, 1))
        assert (await client.post(f"{API}/cart/voucher", json={"code": "ONCE"}, headers=buyer)).status_code == 200
    declined = await checkout(client, first, "d-1", card=DECLINE)
    assert declined.status_code == 402
    uses = lambda: client.get(f"{API}/sellers/me/vouchers", headers=seller)  # noqa: E731
    assert (await uses()).json()[0]["uses"] == 0  # the failed checkout gave its use back
    won = await checkout(client, first, "d-2")
    assert won.status_code == 201, won.text
    lost = await checkout(client, second, "s-1")
    assert lost.status_code == 409 and lost.json()["error"]["code"] == "voucher_exhausted"
    assert (await client.get(f"{API}/cart", headers=second)).json()["warnings"][-1]["code"] == "voucher_not_applicable"
    assert (await client.post(f"{API}/orders/{won.json()['order_id']}/cancel", headers=first)).status_code == 200
    await drain_events(container)
    assert (await uses()).json()[0]["uses"] == 0
    assert (await checkout(client, second, "s-2")).status_code == 201


async def test_a_guest_cart_gets_the_voucher_in_quote_checkout_and_order(
    client: httpx.AsyncClient, container: Container
) -> None:
    seller, _, (a,) = await seller_with_offers(client, container, 10, price=2000)
    assert (await create(client, seller, voucher("GUEST5", kind="fixed", value=500))).status_code == 201
    r = await client.post(f"{API}/cart/items", json={"offer_id": a.id, "quantity": 1})
    cart_id = r.json()["id"]
    guest = {"X-Cart-Id": cart_id}
    client.cookies.clear()  # the API client speaks by header, not by the storefront's cookie
    applied = await client.post(f"{API}/cart/voucher", json={"code": "GUEST5"}, headers=guest)
    assert applied.status_code == 200 and applied.json()["total"]["amount"] == 1500
    quote = (await client.post(f"{API}/checkout/quote", json={"shipping_address": ADDRESS}, headers=guest)).json()
    assert quote["discount"]["amount"] == 500
    body = {
        "shipping_address": ADDRESS,
        "shipping_method": "standard",
        "email": "guest-voucher@example.com",
        "payment": {"card_number": APPROVE, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
    }
    done = await client.post(f"{API}/checkout", json=body, headers={**guest, "Idempotency-Key": "g-v"})
    assert done.status_code == 201, done.text
    placed = await client.get(f"{API}/orders/{done.json()['order_id']}", params={"access": done.json()["access_token"]})
    assert placed.json()["discounts"][0]["code"] == "GUEST5" and placed.json()["total"] == quote["total"]


async def test_the_voucher_form_refuses_amounts_that_are_not_prices(client: httpx.AsyncClient) -> None:
    user = await logged_in(client)
    assert (await post(client, "/seller/join", {"display_name": "Voucher Shop"})).status_code == 303
    headers = await login(client, user["email"], PASSWORD)
    typed = {"code": "TENOFF", "kind": "fixed", "starts_at": "2030-01-01T10:00", "ends_at": "2030-01-02T10:00"}
    for value in ("inf", "1e400", "nan", "1e30", "abc", "-5", "1.005"):
        r = await post(client, "/seller/vouchers", {**typed, "value": value})
        assert r.status_code == 422 and f'value="{value}"' in r.text, (value, r.status_code)
    for minimum in ("inf", "1e400"):
        r = await post(client, "/seller/vouchers", {**typed, "value": "10", "min_subtotal": minimum})
        assert r.status_code == 422, (minimum, r.status_code)
    assert (await client.get(f"{API}/sellers/me/vouchers", headers=headers)).json() == []
    made = await post(client, "/seller/vouchers", {**typed, "value": "$10.50", "min_subtotal": "1,000"})
    assert made.status_code == 303
    (voucher,) = (await client.get(f"{API}/sellers/me/vouchers", headers=headers)).json()
    assert voucher["value"] == 1050 and voucher["min_subtotal"]["amount"] == 100000
