"""Accounts over HTTP: register, login, me, logout, sellers, and the error envelope."""

from __future__ import annotations

import httpx

from tests.helpers import API, login, new_user, register


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


async def test_register_login_me_logout(client: httpx.AsyncClient) -> None:
    user = await register(client, email="Ada@Example.com", name="Ada")
    assert user["email"] == "ada@example.com"
    assert user["roles"] == ["buyer"]
    assert isinstance(user["id"], str)
    assert "password" not in str(user)

    headers = await login(client, "ada@example.com")
    me = await client.get(f"{API}/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]

    out = await client.post(f"{API}/auth/logout", headers=headers)
    assert out.status_code == 204
    assert_error(await client.get(f"{API}/me", headers=headers), 401, "not_authenticated")


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    await register(client, email="dup@example.com")
    r = await client.post(
        f"{API}/auth/register", json={"email": "DUP@example.com", "password": "another pass 1", "name": "X"}
    )
    assert_error(r, 409, "email_taken")


async def test_wrong_password_and_unknown_email_are_401(client: httpx.AsyncClient) -> None:
    await register(client, email="pw@example.com")
    r = await client.post(f"{API}/auth/login", json={"email": "pw@example.com", "password": "wrong password"})
    assert_error(r, 401, "invalid_credentials")
    r = await client.post(f"{API}/auth/login", json={"email": "nobody@example.com", "password": "whatever1"})
    assert_error(r, 401, "invalid_credentials")


async def test_bad_json_and_bad_fields_are_422_envelopes(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{API}/auth/register", content=b"{not json", headers={"content-type": "application/json"})
    err = assert_error(r, 422, "validation_error")
    assert err["details"]["errors"]
    r = await client.post(f"{API}/auth/register", json={"email": "not-an-email", "password": "short", "name": ""})
    err = assert_error(r, 422, "validation_error")
    fields = {e["loc"][-1] for e in err["details"]["errors"]}
    assert {"email", "password", "name"} <= fields
    # Nothing was created by the bad requests.
    ok = await client.post(
        f"{API}/auth/register", json={"email": "x@example.com", "password": "long enough 1", "name": "X"}
    )
    assert ok.status_code == 201


async def test_missing_and_garbage_tokens_are_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{API}/me"), 401, "not_authenticated")
    assert_error(await client.get(f"{API}/me", headers={"Authorization": "Bearer nope"}), 401, "not_authenticated")


async def test_eleventh_rapid_login_for_one_email_is_429(client: httpx.AsyncClient) -> None:
    await register(client, email="rl@example.com")
    for _ in range(10):
        r = await client.post(f"{API}/auth/login", json={"email": "rl@example.com", "password": "wrong password"})
        assert r.status_code == 401
    r = await client.post(f"{API}/auth/login", json={"email": "rl@example.com", "password": "correct horse battery"})
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    # Another account is not affected by this one's limit.
    other = await register(client, email="other@example.com")
    assert (
        await client.post(f"{API}/auth/login", json={"email": other["email"], "password": "correct horse battery"})
    ).status_code == 200


async def test_rate_limits_off(settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bazaar.bootstrap import build_container
    from bazaar.web.app import create_app

    settings = settings_factory(rate_limits="off")
    container = build_container(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(container=container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await register(client, email="free@example.com")
            for _ in range(15):
                r = await client.post(f"{API}/auth/login", json={"email": "free@example.com", "password": "bad pass"})
                assert r.status_code == 401
    finally:
        await container.close()


async def test_become_seller_with_an_existing_token(client: httpx.AsyncClient) -> None:
    _, headers = await new_user(client)
    r = await client.post(f"{API}/sellers", json={"display_name": "Acme Outlet"}, headers=headers)
    assert r.status_code == 201
    seller = r.json()
    assert seller["display_name"] == "Acme Outlet"
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert "seller" in me["roles"]
    assert me["seller_id"] == seller["id"]
    again = await client.post(f"{API}/sellers", json={"display_name": "Acme Outlet"}, headers=headers)
    assert_error(again, 409, "already_seller")
    assert_error(await client.post(f"{API}/sellers", json={"display_name": "X"}), 401, "not_authenticated")


async def test_unknown_route_and_method_use_the_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{API}/no-such-thing"), 404, "not_found")
    assert_error(await client.get(f"{API}/auth/register"), 405, "method_not_allowed")
