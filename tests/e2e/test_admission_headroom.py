"""A web process whose event loop keeps time works on a second checkout at once; one that lags keeps to one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bazaar.bootstrap import Container
from bazaar.checkout import saga
from bazaar.web.app import create_app
from bazaar.web.loop_lag import WINDOW
from tests.e2e.test_checkout import body, buyer_with_cart
from tests.helpers import API
from tests.inventory_factories import make_offer


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(
        admission_checkouts_per_process=1, admission_checkouts_with_headroom=2, admission_wait_seconds=0.3
    )


def _held_in_reserve(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], asyncio.Event, asyncio.Event]:
    """Checkouts stop in their stock step (holding their slot) until `go` is set; each adds to `working`."""
    working: list[int] = []
    arrived, go = asyncio.Event(), asyncio.Event()
    reserve = saga.inventory.reserve_lines

    async def held(**kwargs: Any) -> Any:
        working.append(1)
        arrived.set()
        await go.wait()
        return await reserve(**kwargs)

    monkeypatch.setattr(saga.inventory, "reserve_lines", held)
    return working, arrived, go


def _lagging(app: Any, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The loop's recent lag, as its sampler would have measured it (the machine running the tests may lag too)."""
    monkeypatch.setattr(app.state.loop_lag, "recent", lambda: seconds)


def _checkout(client: httpx.AsyncClient, buyer: dict[str, str], key: str) -> Any:
    return client.post(f"{API}/checkout", json=body(), headers={**buyer, "Idempotency-Key": key})


async def _until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_process_with_headroom_works_on_two_checkouts_at_once(
    client: httpx.AsyncClient, app: Any, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await make_offer(container, quantity=10)
    buyers = [await buyer_with_cart(client, (offer, 1)) for _ in range(3)]
    _lagging(app, monkeypatch, 0.0)
    _, _, go = _held_in_reserve(monkeypatch)
    first = asyncio.create_task(_checkout(client, buyers[0], "a"))
    second = asyncio.create_task(_checkout(client, buyers[1], "b"))
    await _until(lambda: app.state.admission.checkout.in_flight == 2)  # both let in: the second on the spare slot
    third = await _checkout(client, buyers[2], "c")
    go.set()
    placed = [await first, await second]

    assert [r.status_code for r in placed] == [201, 201], [r.text for r in placed]
    assert third.status_code == 503 and third.json()["error"]["code"] == "overloaded"  # no third slot
    metrics = (await client.get("/metrics")).text
    assert 'bazaar_write_admission{lane="checkout",outcome="widened"} 1.0' in metrics
    assert 'bazaar_write_admission{lane="checkout",outcome="in_flight"} 0.0' in metrics
    assert "bazaar_event_loop_lag_seconds_bucket" in metrics


async def test_a_process_whose_loop_lags_works_on_one_checkout_at_a_time(
    client: httpx.AsyncClient, app: Any, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await make_offer(container, quantity=10)
    first_buyer = await buyer_with_cart(client, (offer, 1))
    second_buyer = await buyer_with_cart(client, (offer, 1))
    _lagging(app, monkeypatch, 0.05)  # busy serving pages, say, or the cores busy with other processes
    working, arrived, go = _held_in_reserve(monkeypatch)
    first = asyncio.create_task(_checkout(client, first_buyer, "a"))
    await asyncio.wait_for(arrived.wait(), 10)
    page = await client.get(f"{API}/products/{offer.product_id}")  # reads never wait in the lane
    refused = await _checkout(client, second_buyer, "b")
    go.set()
    placed = await first

    assert page.status_code == 200 and placed.status_code == 201
    assert refused.status_code == 503 and len(working) == 1  # the second never got to work
    again = await _checkout(client, second_buyer, "b")
    assert again.status_code == 201, again.text  # nothing of the refused one happened
    metrics = (await client.get("/metrics")).text
    assert 'bazaar_write_admission{lane="checkout",outcome="widened"} 0.0' in metrics


async def test_a_checkout_waiting_in_line_gets_the_spare_slot_when_the_loop_catches_up(
    client: httpx.AsyncClient, app: Any, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No slot is left free meanwhile: the loop's sampler lets the one waiting in as soon as it keeps time again."""
    offer = await make_offer(container, quantity=10)
    first_buyer = await buyer_with_cart(client, (offer, 1))
    second_buyer = await buyer_with_cart(client, (offer, 1))
    lag = [0.05]
    monkeypatch.setattr(app.state.loop_lag, "recent", lambda: lag[0])
    _, arrived, go = _held_in_reserve(monkeypatch)
    first = asyncio.create_task(_checkout(client, first_buyer, "a"))
    await asyncio.wait_for(arrived.wait(), 10)
    monkeypatch.setattr(app.state.admission, "wait", 30.0)  # this one waits as long as it takes
    second = asyncio.create_task(_checkout(client, second_buyer, "b"))
    await _until(lambda: len(app.state.admission.checkout._line) == 1)
    lag[0] = 0.0
    app.state.loop_lag.listeners[0]()  # a sample taken: what the sampler calls after each
    await _until(lambda: app.state.admission.checkout.in_flight == 2)
    go.set()
    assert (await first).status_code == 201 and (await second).status_code == 201


async def test_the_app_samples_its_loop_while_it_runs(settings: Any) -> None:
    app = create_app(settings.model_copy(update={"embedded_workers": False}))
    async with app.router.lifespan_context(app):
        await _until(lambda: len(app.state.loop_lag.samples) == WINDOW)  # half a second of samples
        assert app.state.loop_lag.recent() is not None
        assert app.state.admission.checkout.wake in app.state.loop_lag.listeners
    sampled = app.state.loop_lag.sampled_at
    await asyncio.sleep(0.15)
    assert app.state.loop_lag.sampled_at == sampled  # stopped with the app
