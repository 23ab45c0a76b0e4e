"""Small helpers shared by HTTP tests: registering users, logging in, draining events."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from bazaar.bootstrap import Container

API = "/api/v1"
_counter = itertools.count(1)


async def register(
    client: httpx.AsyncClient,
    *,
    email: str | None = None,
    password: str = "correct horse battery",
    name: str = "Test User",
) -> dict[str, Any]:
    email = email or f"user{next(_counter)}@example.com"
    r = await client.post(f"{API}/auth/register", json={"email": email, "password": password, "name": name})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def login(client: httpx.AsyncClient, email: str, password: str = "correct horse battery") -> dict[str, str]:
    r = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def new_user(client: httpx.AsyncClient, **kw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    user = await register(client, **kw)
    return user, await login(client, user["email"], kw.get("password", "correct horse battery"))


async def new_seller(
    client: httpx.AsyncClient, display_name: str = "Test Seller"
) -> tuple[dict[str, Any], dict[str, str]]:
    user, headers = await new_user(client)
    r = await client.post(f"{API}/sellers", json={"display_name": display_name}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json(), headers


async def drain_events(container: Container, rounds: int = 20) -> int:
    """Deliver every pending outbox event to its consumers, as the embedded worker would."""
    from bazaar.workers import outbox_relay

    total = 0
    for _ in range(rounds):
        done = await outbox_relay.run_once(container)
        total += done
        if not done:
            break
    return total
