"""The order-placed event carries each line's part of the money, so its consumers need not read the order back."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from bazaar.bootstrap import Container
from bazaar.db.outbox import OutboxEvent
from bazaar.notifications.service import list_notifications, seller_stats
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


def _line(seller_id: str, quantity: int, amount: int) -> dict[str, object]:
    return {"seller_id": seller_id, "product_id": "p", "quantity": quantity, "title": "t", "amount": amount, "tax": 0}


async def test_a_batch_of_orders_and_holds_adds_to_each_sellers_figures_once(container: Container) -> None:
    """The seller-figures consumer sums a batch's events per seller and writes them with one statement (PostgreSQL;
    one per seller on SQLite): the figures are those the events give one by one, whatever sellers they share."""
    from bazaar.notifications.handlers import handle_seller_stats, handle_seller_stats_batch
    from tests.inventory_factories import make_seller

    a, b, c = [await make_seller(container) for _ in range(3)]

    def placed(n: int, *lines: dict[str, object]) -> dict[str, object]:
        payload = {"id": f"o{n}", "user_id": "u", "lines": list(lines)}
        return {"event_id": f"e{n}", "topic": "orders.order_placed.v1", "key": f"o{n}", "payload": payload}

    held = {
        "event_id": "h1", "topic": "inventory.reservations_made.v1", "key": "x",
        "payload": {"holds": [
            {"reservation_id": "r1", "offer_id": "x", "seller_id": b, "quantity": 2},
            {"reservation_id": "r2", "offer_id": "y", "seller_id": c, "quantity": 1},
            {"reservation_id": "r3", "offer_id": "z", "seller_id": b, "quantity": 3},
        ]},
    }  # fmt: skip
    shipped = {"event_id": "s1", "topic": "orders.order_status_changed.v1", "key": "o1", "payload": {"status": "paid"}}
    batch = [placed(1, _line(a, 2, 500), _line(b, 1, 300)), held, shipped, placed(2, _line(b, 4, 1000))]
    async with container.uow() as uow:
        await handle_seller_stats_batch(uow, batch)
        await uow.commit()
    async with container.uow() as uow:  # the same events one at a time (the consumer's way after a failure)
        for event in batch:
            await handle_seller_stats(uow, event)
        await uow.commit()
    async with container.read_uow() as uow:
        figures = {s: await seller_stats(uow=uow, seller_id=s) for s in (a, b, c)}
    got = {s: (f.orders, f.units_sold, f.revenue.amount, f.reservations) for s, f in figures.items()}
    assert got == {a: (2, 4, 1000, 0), b: (4, 10, 2600, 4), c: (0, 0, 0, 2)}


async def test_a_batch_of_orders_tells_each_buyer_and_seller_once(container: Container) -> None:
    """The notifications consumer's batch: every order placed in it tells its buyer and each of its sellers, the
    sellers read once and the notifications written together; handled again (one by one), nothing is added."""
    from bazaar.accounts.models import Seller
    from bazaar.notifications.handlers import handle_notifications, handle_notifications_batch
    from bazaar.notifications.models import Notification
    from tests.inventory_factories import make_seller

    a, b = [await make_seller(container) for _ in range(2)]
    async with container.read_uow() as uow:
        users = {s: (await uow.session.get_one(Seller, s)).user_id for s in (a, b)}

    def placed(n: int, buyer: str, *lines: dict[str, object]) -> dict[str, object]:
        payload = {"id": f"order000{n}", "user_id": buyer, "total_amount": 1234, "lines": list(lines)}
        return {"event_id": f"e{n}", "topic": "orders.order_placed.v1", "key": f"o{n}", "payload": payload}

    prepared = {"id": "order0001", "user_id": users[b], "status": "processing"}
    paid = {"event_id": "e3", "topic": "orders.order_status_changed.v1", "key": "o1", "payload": prepared}
    first, second = placed(1, users[b], _line(a, 2, 500), _line(b, 1, 300)), placed(2, users[a], _line(b, 4, 1000))
    batch = [first, paid, second]
    for handle in (lambda uow: handle_notifications_batch(uow, batch), None):
        async with container.uow() as uow:
            if handle is not None:
                await handle(uow)
            else:
                for event in batch:
                    await handle_notifications(uow, event)
            await uow.commit()
    async with container.read_uow() as uow:
        rows = (await uow.session.execute(select(Notification))).scalars().all()
    told = sorted((r.event_id, r.kind, r.user_id, r.subject) for r in rows)
    assert told == sorted([
        ("e1", "order_placed", users[b], "Order rder0001 placed"),
        ("e1", "new_order", users[a], "New order rder0001: 2 item(s) to ship"),
        ("e1", "new_order", users[b], "New order rder0001: 1 item(s) to ship"),
        ("e2", "order_placed", users[a], "Order rder0002 placed"),
        ("e2", "new_order", users[b], "New order rder0002: 4 item(s) to ship"),
        ("e3", "payment_captured", users[b], "Order rder0001 is being prepared"),
    ])  # fmt: skip
    # Newest first, as they were told: the order's later news above its "placed" (the batch keeps event order).
    async with container.read_uow() as uow:
        listed = await list_notifications(uow=uow, user_id=users[b], page=1, per_page=10)
    assert [n.subject for n in listed.items] == [
        "New order rder0002: 4 item(s) to ship",
        "Order rder0001 is being prepared",
        "New order rder0001: 1 item(s) to ship",
        "Order rder0001 placed",
    ]
