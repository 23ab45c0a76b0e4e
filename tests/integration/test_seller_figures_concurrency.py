"""Batches of the seller-figures consumer at once on PostgreSQL (two engines, real parallel connections): each
writes its sellers' figures with one upsert from arrays, which adds to a row another batch holds locked once that one
commits, so no count is lost. (The sellers go in id order, the order every batch locks their rows in; the consumer
also runs its batches one at a time under an advisory lock, which this test leaves out to make them meet.)"""

from __future__ import annotations

import asyncio

import pytest

from bazaar.bootstrap import Container
from bazaar.notifications.handlers import handle_seller_stats_batch
from bazaar.notifications.service import seller_stats
from tests.inventory_factories import make_seller


def _placed(n: int, *sellers: str) -> dict[str, object]:
    lines = [{"seller_id": s, "product_id": "p", "quantity": 1, "title": "t", "amount": 100, "tax": 0} for s in sellers]
    payload = {"id": f"o{n}", "user_id": "u", "lines": lines}
    return {"event_id": f"e{n}", "topic": "orders.order_placed.v1", "key": f"o{n}", "payload": payload}


@pytest.mark.usefixtures("pg_only")
async def test_batches_of_the_same_sellers_at_once_lose_no_count(
    container: Container, second_container: Container
) -> None:
    a, b, c = sorted([await make_seller(container) for _ in range(3)])
    rounds = 15

    async def batches(node: Container, sellers: tuple[str, ...], first: int) -> None:
        for n in range(rounds):
            async with node.uow() as uow:
                await handle_seller_stats_batch(uow, [_placed(first + n, *sellers)])
                await asyncio.sleep(0.005)  # the rows stay locked a while: the other batch comes to them meanwhile
                await uow.commit()

    await asyncio.gather(batches(container, (c, b, a), 0), batches(second_container, (a, b, c), 1000))
    async with container.read_uow() as uow:
        figures = [await seller_stats(uow=uow, seller_id=s) for s in (a, b, c)]
    assert [(f.orders, f.units_sold, f.revenue.amount) for f in figures] == [(2 * rounds, 2 * rounds, 200 * rounds)] * 3
