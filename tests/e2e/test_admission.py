"""Admission control: writes past a process's bound wait in line, then get 503 `overloaded`; reads never wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bazaar.adapters import payment_client
from bazaar.bootstrap import Container
from bazaar.checkout import saga
from tests.e2e.test_checkout import body, buyer_with_cart
from tests.helpers import API
from tests.inventory_factories import make_offer


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    # One checkout at a time (no spare slot: tests/e2e/test_admission_headroom.py), a short line, and a provider slow
    # enough to keep the one slot busy.
    return settings_factory(
        admission_checkouts_per_process=1,
        admission_checkouts_with_headroom=1,
        admission_wait_seconds=0.3,
        payment_sandbox_latency_ms=1500,
        payment_call_timeout_seconds=5,
        payment_deadline_seconds=10,
    )


async def test_a_checkout_past_the_bound_is_turned_away_while_reads_go_on(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await make_offer(container, quantity=10)
    first = await buyer_with_cart(client, (offer, 1))
    second = await buyer_with_cart(client, (offer, 1))
    # The first checkout's work (holding its stock) goes on until the test lets it: it holds the one slot.
    working, go = asyncio.Event(), asyncio.Event()
    reserve = saga.inventory.reserve_lines

    async def long_reserve(**kwargs: Any) -> Any:
        working.set()
        await go.wait()
        return await reserve(**kwargs)

    monkeypatch.setattr(saga.inventory, "reserve_lines", long_reserve)
    slow = asyncio.create_task(client.post(f"{API}/checkout", json=body(), headers={**first, "Idempotency-Key": "a"}))
    await asyncio.wait_for(working.wait(), 10)
    started = time.monotonic()
    page = await client.get(f"{API}/products/{offer.product_id}")
    read_seconds = time.monotonic() - started
    refused = await client.post(f"{API}/checkout", json=body(), headers={**second, "Idempotency-Key": "b"})
    go.set()
    placed = await slow

    assert page.status_code == 200 and read_seconds < 1.0  # the read did not wait for the checkout
    assert placed.status_code == 201, placed.text
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "overloaded"
    assert refused.headers["Retry-After"] == "1"
    # Nothing of the refused checkout happened: the buyer tries again later and it goes through.
    again = await client.post(f"{API}/checkout", json=body(), headers={**second, "Idempotency-Key": "b"})
    assert again.status_code == 201, again.text
    metrics = (await client.get("/metrics")).text
    assert 'bazaar_write_admission{lane="checkout",outcome="refused"} 1.0' in metrics


async def test_a_checkout_waiting_on_the_provider_gives_its_slot_to_the_next(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One checkout slot per process bounds the work done at once, not the checkouts waiting on the provider
    (1.5 s here): the second checkout is let in while the first waits, and both are placed."""
    offer = await make_offer(container, quantity=10)
    first = await buyer_with_cart(client, (offer, 1))
    second = await buyer_with_cart(client, (offer, 1))
    at_the_provider = asyncio.Event()
    real = payment_client.waiting_elsewhere

    @asynccontextmanager
    async def seen() -> AsyncIterator[None]:
        async with real():
            at_the_provider.set()
            yield

    monkeypatch.setattr(payment_client, "waiting_elsewhere", seen)
    waiting = asyncio.create_task(
        client.post(f"{API}/checkout", json=body(), headers={**first, "Idempotency-Key": "a"})
    )
    await asyncio.wait_for(at_the_provider.wait(), 10)
    also = await client.post(f"{API}/checkout", json=body(), headers={**second, "Idempotency-Key": "b"})
    placed = await waiting
    assert placed.status_code == 201, placed.text
    assert also.status_code == 201, also.text  # not 503 after the 0.3 s line
    metrics = (await client.get("/metrics")).text
    assert 'bazaar_write_admission{lane="checkout",outcome="refused"} 0.0' in metrics
    assert 'bazaar_write_admission{lane="checkout",outcome="in_flight"} 0.0' in metrics  # every slot given back
