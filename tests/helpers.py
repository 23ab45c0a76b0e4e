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


async def drain_events(container: Container, rounds: int = 1000) -> int:
    """Relay pending outbox events and deliver them to their consumers through the container's event
    stream (the outbox in-process, or Redis Streams), as the workers would; events waiting out a retry
    backoff are left for a later call."""
    from bazaar.workers import outbox_relay

    return await outbox_relay.drain(container, rounds=rounds)
