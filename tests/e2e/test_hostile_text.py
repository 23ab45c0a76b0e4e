"""Hostile text and bodies (issue 14, findings 5 and 6): NUL and control characters are refused at the edge with a
422 (they answered 500 on PostgreSQL), user JSON is bounded in depth, keys and size, and bodies over the limit
answer 413 in the API's error format."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.kernel.text import JSON_MAX_BYTES, check_json_value, refuse_control
from tests.catalog_builder import api_product, make_categories
from tests.e2e.test_accounts import assert_error
from tests.helpers import API, new_seller, new_user
from tests.inventory_factories import make_offer


@pytest.mark.parametrize("value", ["a\x00b", "\x07", "x\x1b[31m", "\x7f", "\x85"])
def test_the_shared_validator_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValueError, match="control"):
        refuse_control(value)


def test_the_shared_validator_keeps_lines_and_tabs_and_unicode() -> None:
    assert refuse_control("Zeile 1\n\tZeile 2\r\n — ünïcode ✓") == "Zeile 1\n\tZeile 2\r\n — ünïcode ✓"


async def test_nul_anywhere_is_422_never_500(client: httpx.AsyncClient, container: Container) -> None:
    offer = await make_offer(container, quantity=5)
    _, buyer = await new_user(client)
    cats = await make_categories(container)
    _, seller = await new_seller(client)
    attempts = [
        client.get(f"{API}/products/{offer.product_id}%00"),
        client.get(f"{API}/products/ab\x00cd".replace("\x00", "%00")),
        client.get(f"{API}/search", params={"q": "lamp\x00"}),
        client.post(f"{API}/cart/items", json={"offer_id": offer.id + "\x00", "quantity": 1}, headers=buyer),
        client.post(f"{API}/reservations", json={"offer_id": "\x00" + offer.id, "quantity": 1}, headers=buyer),
        client.post(f"{API}/auth/register", json={"email": "a\x00@example.com", "password": "p" * 12, "name": "N"}),
        client.post(
            f"{API}/products",
            json={"title": "Lamp\x00", "brand": "Acme", "category_id": cats["Home"], "skus": [{"attributes": {}}]},
            headers=seller,
        ),
        client.post(
            f"{API}/products",
            json={
                "title": "Lamp",
                "brand": "Acme",
                "category_id": cats["Home"],
                "skus": [{"attributes": {"c\x01": "x"}}],
            },
            headers=seller,
        ),  # fmt: skip
        client.post("/login", data={"email": "x\x00@example.com", "password": "whatever"}),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 422, (r.request.url, r.status_code, r.text[:200])
        if r.headers["content-type"].startswith("application/json"):
            assert r.json()["error"]["code"] == "invalid_characters"
    # text with lines, tabs and an escaped backslash-u is fine
    r = await client.post(
        f"{API}/products",
        json={"title": "Lamp", "brand": "Acme", "category_id": cats["Home"], "description": "a\nb\tc \\u0000 d",
              "skus": [{"attributes": {}}]},
        headers=seller,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "a\nb\tc \\u0000 d"


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_json_bounds() -> None:
    assert check_json_value(nested(4)) == nested(4)
    for bad in (nested(5), {f"k{i}": i for i in range(101)}, {"big": "x" * JSON_MAX_BYTES}):
        with pytest.raises(ValueError):
            check_json_value(bad)


async def test_attributes_are_bounded_and_pages_keep_working(client: httpx.AsyncClient, container: Container) -> None:
    cats = await make_categories(container)
    _, seller = await new_seller(client)
    base = {"title": "Chair", "brand": "Acme", "category_id": cats["Home"], "skus": [{"attributes": {}}]}
    for attributes in (nested(300), nested(5), {"blob": "x" * 20_000}, {f"k{i}": i for i in range(150)}):
        r = await client.post(f"{API}/products", json={**base, "attributes": attributes}, headers=seller)
        assert r.status_code == 422, r.text[:300]
    r = await client.post(f"{API}/products", json={**base, "skus": [{"attributes": nested(6)}]}, headers=seller)
    assert r.status_code == 422
    product = await api_product(client, seller, title="Stool", brand="Acme", category_id=cats["Home"])
    assert (await client.get(f"{API}/products/{product['id']}")).status_code == 200


async def test_bodies_over_the_limit_are_413(client: httpx.AsyncClient, container: Container) -> None:
    _, buyer = await new_user(client)
    big = json.dumps({"offer_id": "x" * (2 * 1024 * 1024), "quantity": 1})
    r = await client.post(f"{API}/cart/items", content=big, headers={**buyer, "Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"x" * 65536

    r = await client.post(f"{API}/cart/items", content=chunks(), headers={**buyer, "Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")
    small = await client.post(f"{API}/cart/items", json={"offer_id": "nope", "quantity": 1}, headers=buyer)
    assert small.status_code == 404


@pytest.mark.parametrize("cart_id", ["abc\x7f", "\x85", "a\x1bb"])
async def test_a_cart_id_header_with_control_characters_is_refused(client: httpx.AsyncClient, cart_id: str) -> None:
    """The anonymous cart's `X-Cart-Id` follows the rule of every string the API takes (schemathesis found it
    served an empty cart instead): 422, and nothing is created."""
    for method, path in (("GET", "/cart"), ("DELETE", "/cart/voucher"), ("POST", "/cart/items")):
        body = {"offer_id": "x", "quantity": 1} if method == "POST" else None
        headers = {"X-Cart-Id": cart_id.encode("latin-1")}  # as the bytes arrive (HTTP headers are latin-1)
        r = await client.request(method, f"{API}{path}", headers=headers, json=body)
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "validation_error"
        assert "x-cart-id" in r.text.lower()
