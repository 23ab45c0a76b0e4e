"""The order-placed event carries each line's part of the money, so its consumers need not read the order back."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from bazaar.bootstrap import Container
from bazaar.db.outbox import OutboxEvent
from bazaar.notifications.service import seller_stats
from bazaar.orders import queries as orders
from tests.e2e.test_checkout import buyer_with_cart, checkout
from tests.helpers import drain_events
from tests.inventory_factories import make_offer


async def _placed_event(container: Container, order_id: str) -> OutboxEvent:
    async with container.read_uow() as uow:
        query = select(OutboxEvent).where(OutboxEvent.topic == "orders.order_placed.v1", OutboxEvent.key == order_id)
        return (await uow.session.execute(query)).scalar_one()


async def test_the_sellers_of_an_order_are_counted_from_its_event_as_from_the_order(
    client: httpx.AsyncClient, container: Container
) -> None:
    a = await make_offer(container, quantity=9, price=1000)
    b = await make_offer(container, quantity=9, price=250, seller_id=a.seller_id)
    c = await make_offer(container, quantity=9, price=700)
    r = await checkout(client, await buyer_with_cart(client, (a, 2), (b, 1), (c, 3)))
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    event = await _placed_event(container, order_id)
    async with container.read_uow() as uow:
        money = await orders.order_money(uow=uow, order_id=order_id)
        from_event = await orders.placed_sellers(uow=uow, placed=event.payload)
    assert from_event == money.sellers and len(from_event) == 2
    assert from_event[a.seller_id].units == 3 and from_event[c.seller_id].units == 3

    # An order placed by an earlier version: its event names no lines, and the consumers read the order.
    r = await checkout(client, await buyer_with_cart(client, (c, 1)))
    assert r.status_code == 201, r.text
    older = await _placed_event(container, r.json()["order_id"])
    async with container.uow() as uow:
        payload = {k: v for k, v in older.payload.items() if k != "lines"}
        await uow.session.execute(update(OutboxEvent).where(OutboxEvent.id == older.id).values(payload=payload))
        await uow.commit()
    await drain_events(container)
    async with container.read_uow() as uow:
        stats_a = await seller_stats(uow=uow, seller_id=a.seller_id)
        stats_c = await seller_stats(uow=uow, seller_id=c.seller_id)
    assert (stats_a.orders, stats_a.units_sold, stats_a.revenue.amount) == (
        1, 3, from_event[a.seller_id].gross,
    )  # fmt: skip
    assert (stats_c.orders, stats_c.units_sold) == (2, 4)
