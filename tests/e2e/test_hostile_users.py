"""Low-severity findings of issue 14 (13, 14, 15, 17, 18, 20, 21), each as a user or attacker would notice it."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bazaar.bootstrap import Container
from bazaar.cart.schemas import MAX_CART_LINES
from bazaar.settings import Settings
from tests.catalog_builder import api_offer, api_product, make_categories
from tests.e2e.test_accounts import assert_error
from tests.e2e.test_checkout import buyer_with_cart, checkout
from tests.e2e.test_storefront import logged_in
from tests.helpers import API, new_seller, new_user
from tests.inventory_factories import make_offer


@pytest.mark.parametrize(
    "password", ["12345678", "aaaaaaaa", " " * 8, "password", "Password1", "qwertyuiop", "87654321"]
)
async def test_guessable_passwords_are_refused(client: httpx.AsyncClient, password: str) -> None:
    """Finding 13."""
    r = await client.post(f"{API}/auth/register", json={"email": "new@example.com", "password": password, "name": "N"})
    assert_error(r, 422, "validation_error")
    ok = await client.post(
        f"{API}/auth/register", json={"email": "new@example.com", "password": "amber falcon 7", "name": "N"}
    )
    assert ok.status_code == 201


async def test_the_api_wants_the_csrf_token_with_the_session_cookie(client: httpx.AsyncClient) -> None:
    """Finding 15: body-less POSTs such as cancel relied on SameSite alone when made with the session cookie."""
    await logged_in(client)  # the storefront's session and CSRF cookies
    assert client.cookies.get("bazaar_session")
    assert (await client.get(f"{API}/me")).status_code == 200  # reading with the cookie is fine
    r = await client.post(f"{API}/sellers", json={"display_name": "Cookie Shop"})
    assert_error(r, 403, "csrf_failed")
    r = await client.post(f"{API}/sellers", json={"display_name": "Cookie Shop"}, headers={"X-CSRF-Token": "guess"})
    assert_error(r, 403, "csrf_failed")
    if not client.cookies.get("bazaar_csrf"):
        await client.get("/login")
    token = client.cookies.get("bazaar_csrf")
    assert token
    r = await client.post(f"{API}/sellers", json={"display_name": "Cookie Shop"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text


async def test_a_cart_holds_a_bounded_number_of_lines(client: httpx.AsyncClient, container: Container) -> None:
    """Finding 17: 600 lines were accepted, each add re-pricing them all."""
    offers = [await make_offer(container, quantity=3) for _ in range(MAX_CART_LINES + 1)]
    _, buyer = await new_user(client)
    for offer in offers[:MAX_CART_LINES]:
        r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1}, headers=buyer)
        assert r.status_code == 200, r.text
    r = await client.post(f"{API}/cart/items", json={"offer_id": offers[-1].id, "quantity": 1}, headers=buyer)
    assert_error(r, 409, "cart_full")
    more = await client.post(f"{API}/cart/items", json={"offer_id": offers[0].id, "quantity": 1}, headers=buyer)
    assert more.status_code == 200  # more of an offer already there is fine


@pytest.mark.parametrize("quantity", ["5", True, "1", False, 1.5])
async def test_cart_quantities_are_whole_numbers_not_strings_or_booleans(
    client: httpx.AsyncClient, container: Container, quantity: Any
) -> None:
    """Finding 18."""
    offer = await make_offer(container, quantity=10)
    _, buyer = await new_user(client)
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": quantity}, headers=buyer)
    assert_error(r, 422, "validation_error")


async def test_an_overlong_idempotency_key_says_so(client: httpx.AsyncClient, container: Container) -> None:
    """Finding 20: a key over 255 characters answered `idempotency_key_required`."""
    offer = await make_offer(container, quantity=10)
    headers = await buyer_with_cart(client, (offer, 1))
    r = await checkout(client, headers, key="k" * 256)
    err = assert_error(r, 400, "idempotency_key_invalid")
    assert err["details"]["max_length"] == 255
    assert_error(await checkout(client, headers, key=None), 400, "idempotency_key_required")
    assert (await checkout(client, headers, key="k" * 255)).status_code == 201


async def test_security_headers_everywhere_and_no_docs_in_production(
    client: httpx.AsyncClient, container: Container, tmp_path: Path
) -> None:
    """Finding 21."""
    for path in ("/static/bazaar.css", f"{API}/categories", "/healthz", f"{API}/nope"):
        r = await client.get(path)
        assert r.headers.get("x-content-type-options") == "nosniff", path
    assert "strict-transport-security" not in r.headers
    assert (await client.get("/docs")).status_code == 200
    offer = await make_offer(container, quantity=3)
    transport = httpx.ASGITransport(app=client._transport.app, raise_app_exceptions=False)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.example") as https:
        r = await https.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1})
        assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower()
    r = await client.post(f"{API}/cart/items", json={"offer_id": offer.id, "quantity": 1})
    assert "secure" not in r.headers["set-cookie"].lower()  # plain HTTP (make run) keeps working

    from bazaar.web.app import create_app

    production = Settings(
        data_dir=tmp_path, env="production", secret_key="s" * 40, hsts_seconds=31536000, log_level="WARNING"
    )
    app = create_app(production)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert "/docs" not in paths and "/redoc" not in paths and "/openapi.json" in paths
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.example") as prod:
        r = await prod.get("/openapi.json")
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def _serve(options: dict[str, Any]) -> tuple[uvicorn.Server, threading.Thread, int]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # answers the client address it sees
        if scope["type"] != "http":
            return
        body = str(scope["client"][0]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    wanted = {k: v for k, v in options.items() if k in ("proxy_headers", "forwarded_allow_ips", "http")}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **wanted))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread, port


@pytest.mark.parametrize(("trusted", "seen"), [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")])
def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path, trusted: str, seen: str) -> None:
    """Finding 14: rotating X-Forwarded-For from localhost bypassed the per-IP login limit."""
    from bazaar.cli import server_options

    server, thread, port = _serve(server_options(Settings(data_dir=tmp_path, trusted_proxies=trusted)))
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.text == seen
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def test_options_and_405_name_every_method_a_path_answers(client: httpx.AsyncClient) -> None:
    """Finding 16 (OPTIONS `Allow` incomplete): for every path of the API document, OPTIONS answers 204 with exactly
    the documented methods (and OPTIONS), and a method the path does not answer gets 405 with the same `Allow`,
    also where one path's methods are declared as separate routes (GET and POST of /me/addresses), and a literal
    path beside a templated one (/checkout/quote beside /checkout/{checkout_id}) is not routed as an id."""
    spec = (await client.get("/openapi.json")).json()
    for template, operations in spec["paths"].items():
        path = re.sub(r"\{[^}]+\}", "01ABCDEFGHJKMNPQRSTVWXYZ01", template)  # an id's shape (kernel.ids)
        documented = {m.upper() for m in operations}
        r = await client.options(path)
        assert r.status_code == 204, (path, r.status_code, r.text)
        assert set(r.headers["allow"].split(", ")) == documented | {"OPTIONS"}, (path, r.headers["allow"])
        other = next(m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in documented)
        r = await client.request(other, path)
        assert r.status_code == 405, (other, path, r.status_code)
        assert set(r.headers["allow"].split(", ")) == documented | {"OPTIONS"}, (other, path, r.headers["allow"])
        assert r.json()["error"]["code"] == "method_not_allowed"


async def test_whole_numbers_follow_json_schema_everywhere(client: httpx.AsyncClient, container: Container) -> None:
    """One rule for every whole number the API takes (schemathesis: a schema-valid 13411.0 was refused for an
    offer's stock while the cart took it): 5.0 is 5, 5.5, "5" and true are refused, money included."""
    categories = await make_categories(container)
    _, seller = await new_seller(client)
    product = await api_product(client, seller, title="Lamp", brand="Acme", category_id=categories["Electronics"])
    offer = await api_offer(client, seller, sku_id=product["skus"][0]["id"], price=1000)
    url = f"{API}/sellers/me/offers/{offer['id']}"
    r = await client.patch(url, json={"quantity": 13411.0, "price": {"amount": 1500.0}}, headers=seller)
    assert r.status_code == 200, r.text
    assert r.json()["quantity"] == 13411 and r.json()["price"]["amount"] == 1500
    for body in ({"quantity": 5.5}, {"quantity": "5"}, {"quantity": True}, {"price": {"amount": "1500"}}):
        assert_error(await client.patch(url, json=body, headers=seller), 422, "validation_error")
    r = await client.get(f"{API}/products/{product['id']}")
    assert r.json()["offers"][0]["price"]["amount"] == 1500  # what was refused changed nothing


@pytest.mark.parametrize("value", [1, "true", "yes", None])
async def test_email_preferences_take_true_or_false_only(client: httpx.AsyncClient, value: Any) -> None:
    """schemathesis: `{"order_placed": 1}` was taken as true."""
    _, buyer = await new_user(client)
    r = await client.patch(f"{API}/me/preferences", json={"email": {"order_placed": value}}, headers=buyer)
    assert_error(r, 422, "validation_error")
    r = await client.patch(f"{API}/me/preferences", json={"email": {"order_placed": False}}, headers=buyer)
    assert r.status_code == 200 and r.json()["email"]["order_placed"] is False


async def test_the_document_speaks_json_schema_only(client: httpx.AsyncClient) -> None:
    """Bounds of optional numbers came out as pydantic's `ge`/`le`, which no client or fuzzer reads (schemathesis sent
    a review rating of 0 as valid): every bound is JSON Schema's minimum/maximum."""
    spec = (await client.get("/openapi.json")).json()
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            found.extend(f"{where}.{k}" for k in ("ge", "le", "gt", "lt", "min_length", "max_length") if k in node)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(spec, "")
    assert not found, found[:5]
    rating = spec["components"]["schemas"]["ReviewUpdate"]["properties"]["rating"]["anyOf"][0]
    assert (rating["minimum"], rating["maximum"]) == (1, 5)
    # API.md: a checkout's Idempotency-Key is required (400 `idempotency_key_required` without it); so says the document
    [key] = [p for p in spec["paths"]["/api/v1/checkout"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["required"] is True and key["schema"]["type"] == "string" and key["schema"]["maxLength"] == 255


async def test_logging_in_takes_any_address_shape_and_answers_who_it_does_not_know(client: httpx.AsyncClient) -> None:
    """schemathesis: an address at a reserved domain (`.test`) was refused 422 by the login form's email validation,
    though the document calls it valid; a login looks the address up, so it is 401 like any unknown address."""
    for email in ("28k@hi2xmzw1.test", "someone@localhost", "NOBODY@EXAMPLE.COM"):
        r = await client.post(f"{API}/auth/login", json={"email": email, "password": "whatever-it-is"})
        assert r.status_code == 401, (email, r.text)
    for email in ("no-at-sign", "two@@example.com", "a b@example.com"):
        r = await client.post(f"{API}/auth/login", json={"email": email, "password": "whatever-it-is"})
        assert_error(r, 422, "validation_error")
    spec = (await client.get("/openapi.json")).json()
    commission = spec["components"]["schemas"]["CommissionIn"]["properties"]["categories"]
    assert commission["propertyNames"]["pattern"]  # a map's keys: no control characters, as the edge enforces
