"""Recommendations over HTTP: "bought together" from orders (through order events), "similar" from the search index,
"for you" from a buyer's history; shown on the product page, the cart and the home page."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from bazaar.bootstrap import Container
from tests.catalog_builder import index_now
from tests.e2e.test_orders import place, seller_with_offers
from tests.helpers import API, drain_events, new_user


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


async def test_bought_together_similar_and_for_you(client: httpx.AsyncClient, container: Container) -> None:
    _, _, (kettle, mug, tray, teapot) = await seller_with_offers(client, container, 50, 50, 50, 50)
    url = f"{API}/products/{kettle.product_id}/recommendations"
    empty = (await client.get(url)).json()
    assert empty["bought_together"] == []
    for n, basket in enumerate([(kettle, mug), (kettle, mug), (kettle, tray)]):
        _, buyer = await new_user(client)
        await place(client, buyer, *[(offer, 1) for offer in basket], key=f"basket-{n}")
    assert (await client.get(url)).json()["bought_together"] == []  # eventually consistent: not yet counted
    await drain_events(container)
    together = (await client.get(url)).json()["bought_together"]
    assert [p["id"] for p in together] == [mug.product_id, tray.product_id]  # ordered together most often first
    assert together[0]["title"] == mug.title and together[0]["price_from"]["amount"] == mug.price

    # a buyer who bought a mug is shown the kettle others bought with it
    _, me = await new_user(client)
    await place(client, me, (mug, 1), key="mine")
    await drain_events(container)
    mine = (await client.get(f"{API}/me/recommendations", headers=me)).json()
    assert kettle.product_id in [p["id"] for p in mine["for_you"]]
    assert mug.product_id not in [p["id"] for p in mine["for_you"]]
    assert (await client.get(f"{API}/me/recommendations")).status_code == 401

    # storefront: the product page's shelves, the cart's, the home page's
    await index_now(container)
    html = (await client.get(f"/p/{kettle.product_id}")).text
    assert "Frequently bought together" in html and mug.title in html
    await client.post(f"{API}/cart/items", json={"offer_id": kettle.id, "quantity": 1}, headers=me)
    assert "Customers who bought these also bought" in (await client.get("/cart", headers=me)).text
    assert "Recommended for you" in (await client.get("/", headers=me)).text
    assert (await client.get(f"{API}/products/nope/recommendations")).status_code == 404
    assert teapot.product_id  # listed, never ordered: in no "bought together" shelf
    assert teapot.product_id not in [p["id"] for p in together]


async def test_similar_comes_from_the_search_index(client: httpx.AsyncClient, container: Container) -> None:
    from tests.catalog_builder import api_offer, api_product, make_categories
    from tests.helpers import new_seller

    cats = await make_categories(container)
    _, seller = await new_seller(client)
    made = []
    for title in ("Steel Kettle", "Glass Kettle", "Copper Kettle", "Bamboo Tray"):
        product = await api_product(client, seller, title=title, brand="Acme", category_id=cats["Kitchen"])
        await api_offer(client, seller, sku_id=product["skus"][0]["id"], price=1500)
        made.append(product["id"])
    await index_now(container)
    similar = (await client.get(f"{API}/products/{made[0]}/recommendations")).json()["similar"]
    ids = [p["id"] for p in similar]
    assert made[0] not in ids and set(made[1:3]) <= set(ids)
    assert ids.index(made[1]) < ids.index(made[3]) and ids.index(made[2]) < ids.index(made[3])  # kettles first


async def test_two_batches_of_orders_count_their_pairs_without_deadlock(
    client: httpx.AsyncClient, container: Container, pg_only: None
) -> None:
    """Two partitions' batches of placed orders sharing pairs in the opposite order (as the soak met them): every
    pair is counted, no deadlock. Each statement is slowed, so the batches interleave as under load."""
    from bazaar.db.consumers import Subscription, deliver_many
    from bazaar.kernel.ids import new_id
    from bazaar.recommendations.models import CoPurchase

    _, _, (a, b, c, d) = await seller_with_offers(client, container, 50, 50, 50, 50)
    placed = []
    for n, basket in enumerate([(a, b), (c, d), (c, d), (a, b)]):
        _, buyer = await new_user(client)
        order_id = await place(client, buyer, *[(offer, 1) for offer in basket], key=f"pair-{n}")
        buyer_id = (await client.get(f"{API}/orders/{order_id}", headers=buyer)).json()["buyer_id"]
        placed.append({"event_id": new_id(), "topic": "orders.order_placed.v1", "key": order_id,
                       "payload": {"id": order_id, "user_id": buyer_id}})  # fmt: skip
    (real,) = [s for s in container.subscriptions if s.name == "co-purchases"]

    async def slowly(uow: Any, events: list[dict[str, Any]]) -> None:
        execute = uow.session.execute

        async def slowed(*args: Any, **kwargs: Any) -> Any:
            result = await execute(*args, **kwargs)
            await asyncio.sleep(0.05)
            return result

        uow.session.execute = slowed
        if real.batch_handler is not None:
            await real.batch_handler(uow, events)
        else:
            for event in events:
                await real.handler(uow, event)

    subscription = Subscription("co-purchases-test", real.topics, real.handler, slowly)
    async with container.db.engine.connect() as conn:
        deadlocks = text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        before = (await conn.execute(deadlocks)).scalar_one()
    results = await asyncio.gather(
        deliver_many(container.uow, subscription, placed[:2], stop_at_failure=False),
        deliver_many(container.uow, subscription, placed[2:], stop_at_failure=False),
    )
    assert all(outcome is None for r in results for outcome in r.values()), results
    async with container.db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
        assert (await conn.execute(deadlocks)).scalar_one() == before
    async with container.read_uow() as uow:
        counted = {
            (r.product_id, r.other_id): r.orders for r in (await uow.session.execute(select(CoPurchase))).scalars()
        }
    assert counted[(a.product_id, b.product_id)] == counted[(d.product_id, c.product_id)] == 2 and len(counted) == 4


async def test_a_batch_counts_placed_orders_up_and_cancelled_ones_down_in_one_pass(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Pairs counted up go in one statement, split where a cancelled order's pair falls between them in the sorted
    order: every pair still ends at its count, and a count never goes below zero."""
    from bazaar.recommendations.models import CoPurchase
    from bazaar.recommendations.service import count_orders

    _, _, (a, b, c) = await seller_with_offers(client, container, 50, 50, 50)
    keys = []
    for n, basket in enumerate([(a, b, c), (a, c), (b, c)]):
        _, buyer = await new_user(client)
        order_id = await place(client, buyer, *[(offer, 1) for offer in basket], key=f"mixed-{n}")
        keys.append((order_id, (await client.get(f"{API}/orders/{order_id}", headers=buyer)).json()["buyer_id"]))

    async def counts() -> dict[tuple[str, str], int]:
        async with container.read_uow() as uow:
            rows = (await uow.session.execute(select(CoPurchase))).scalars()
            return {(r.product_id, r.other_id): r.orders for r in rows}

    async with container.uow() as uow:  # the first two orders placed, as their consumer would count them
        await count_orders(uow=uow, placed=keys[:2], cancelled=[])
        await uow.commit()
    before = await counts()
    async with container.uow() as uow:  # then a batch: the third placed, the second cancelled, the first twice
        assert await count_orders(uow=uow, placed=[keys[2], keys[0]], cancelled=[keys[1], keys[1]]) == 8
        await uow.commit()
    after = await counts()

    pa, pb, pc = a.product_id, b.product_id, c.product_id
    want = {(x, y): 0 for x in (pa, pb, pc) for y in (pa, pb, pc) if x != y}
    for basket in ((pa, pb, pc), (pa, pc), (pb, pc), (pa, pb, pc)):  # orders 1, 2, 3 and 1 again
        for x in basket:
            for y in basket:
                if x != y:
                    want[(x, y)] += 1
    for x, y in ((pa, pc), (pc, pa)):
        want[(x, y)] = max(0, want[(x, y)] - 2)  # order 2, cancelled twice in the batch
    assert {k: after.get(k, 0) for k in want} == want, (before, after)
