"""Orders are ready to be partitioned by buyer (docs/SCALING.md): every statement of an order's whole life that
touches a table of the order carries the order's buyer, `user_id`, on both backends.

The statements are caught as the database driver is handed them, for an order's life over the API: placed,
listed by its buyer and its seller, captured, shipped, tracked, delivered, returned and refunded, seen and
searched by an operator, its events consumed (notifications, sellers' figures, ledger, mail, recommendations),
reviewed by its buyer; and another order cancelled. Only statements marked as reading across partitions
(sweeps, aggregates, an operator's browse) are let through, and the journey checks it did see them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from bazaar.db import driver
from bazaar.db.migrate import downgrade, upgrade
from bazaar.workers import payments as payment_workers
from tests.e2e.test_admin import new_admin
from tests.e2e.test_order_races import delivered_order, return_body
from tests.e2e.test_orders import order, place, seller_with_offers
from tests.helpers import API, drain_events, new_user

ORDER_TABLES = (
    "orders",
    "order_lines",
    "order_status_history",
    "shipments",
    "shipment_lines",
    "tracking_events",
    "returns",
    "return_lines",
)
_NAMED = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+\"?(\w+)\"?", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT INTO \"?(\w+)\"?\s*\(([^)]*)\)", re.IGNORECASE)


@pytest.fixture
def settings(settings_factory):  # type: ignore[no-untyped-def]
    return settings_factory(capture_delay_seconds=0)


def without_buyer(statement: str) -> list[str]:
    """The order tables this statement touches without naming their buyer."""
    tables = sorted({t for t in _NAMED.findall(statement) if t in ORDER_TABLES})
    insert = _INSERT.match(statement)
    if insert is not None:
        columns = {c.strip().strip('"') for c in insert.group(2).split(",")}
        return [insert.group(1)] if insert.group(1) in ORDER_TABLES and "user_id" not in columns else []
    # Where rows are chosen: past the selected columns (which name user_id without choosing by it) or the SET.
    chosen = re.split(r"\bFROM\b|\bWHERE\b", statement, maxsplit=1, flags=re.IGNORECASE)[-1]
    return [t for t in tables if f"{t}.user_id" not in chosen]


@contextmanager
def caught(container: Any) -> Iterator[dict[str, list[str]]]:
    """Every statement on an order table: {'keyed': [...], 'cross': [...], 'unkeyed': [...]}."""
    seen: dict[str, list[str]] = {"keyed": [], "cross": [], "unkeyed": []}

    def look(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen_by(statement, context.execution_options if context is not None else {})

    def seen_by(statement: str, options: Any) -> None:
        if not any(t in ORDER_TABLES for t in _NAMED.findall(statement)):
            return
        if options.get("cross_partition"):
            seen["cross"].append(statement)
        elif without_buyer(statement):
            seen["unkeyed"].append(f"{without_buyer(statement)}: {statement}")
        else:
            seen["keyed"].append(statement)

    engines = {id(e): e.sync_engine for e in (container.db.engine, container.db.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", look)
    driver.taps.append(seen_by)  # the statements PostgreSQL runs on the driver directly (db/driver.py)
    try:
        yield seen
    finally:
        driver.taps.remove(seen_by)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", look)


def test_the_check_itself_tells_keyed_from_unkeyed() -> None:
    assert without_buyer("SELECT orders.id FROM orders WHERE orders.id = $1") == ["orders"]
    assert without_buyer("SELECT orders.id FROM orders WHERE orders.id = $1 AND orders.user_id = $2") == []
    joined = "SELECT x FROM order_lines JOIN orders ON orders.id = order_lines.order_id WHERE orders.user_id = $1"
    assert without_buyer(joined) == ["order_lines"]
    assert without_buyer("UPDATE order_lines SET shipped_quantity=$1 WHERE order_lines.id = $2") == ["order_lines"]
    assert without_buyer("INSERT INTO shipments (id, order_id, seller_id) VALUES ($1, $2, $3)") == ["shipments"]
    assert without_buyer("INSERT INTO shipments (id, order_id, user_id) VALUES ($1, $2, $3)") == []
    assert without_buyer("SELECT sellers.id FROM sellers WHERE sellers.id = $1") == []
    assert without_buyer("SELECT order_lines.user_id FROM order_lines WHERE order_lines.order_id = $1") == [
        "order_lines"
    ]
    assert without_buyer("UPDATE orders SET user_id=$1 WHERE orders.id = $2") == ["orders"]


async def test_every_statement_of_an_orders_life_carries_its_buyer(client: httpx.AsyncClient, container: Any) -> None:
    with caught(container) as seen:
        seller, buyer, order_id, line, offer_id = await delivered_order(client, container, 2)
        assert (await client.get(f"{API}/orders", headers=buyer)).json()["items"][0]["id"] == order_id
        mine = (await client.get(f"{API}/sellers/me/orders", headers=seller)).json()
        assert [o["id"] for o in mine["items"]] == [order_id] and mine["total"] == 1
        ret = await client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json=return_body(line, 1))
        assert ret.status_code == 201, ret.text
        received = await client.post(f"{API}/sellers/me/returns/{ret.json()['id']}/receive", headers=seller)
        assert received.status_code == 200, received.text
        assert (await order(client, buyer, order_id))["returns"][0]["status"] == "refunded"

        review = await client.post(
            f"{API}/products/{line['product_id']}/reviews", headers=buyer, json={"rating": 5, "body": "Lovely."}
        )
        assert review.status_code == 201 and review.json()["verified"] is True, review.text

        admin = await new_admin(client, container)
        assert (await client.get(f"{API}/admin/orders/{order_id}", headers=admin)).status_code == 200
        by_seller = await client.get(f"{API}/admin/orders", params={"seller": line["seller_id"]}, headers=admin)
        assert [o["id"] for o in by_seller.json()["items"]] == [order_id]
        buyer_id = (await client.get(f"{API}/me", headers=buyer)).json()["id"]
        by_buyer = await client.get(f"{API}/admin/orders", params={"buyer": buyer_id}, headers=admin)
        assert [o["id"] for o in by_buyer.json()["items"]] == [order_id]

        _, _, (other,) = await seller_with_offers(client, container, 5)
        _, someone = await new_user(client)
        cancelled = await place(client, someone, (other, 1), key="to-cancel")
        assert (await client.post(f"{API}/orders/{cancelled}/cancel", headers=someone)).status_code == 200
        await payment_workers.run_capture(container)
        assert await drain_events(container) > 0

        everything = await client.get(f"{API}/admin/orders", params={"status": "cancelled"}, headers=admin)
        assert [o["id"] for o in everything.json()["items"]] == [cancelled]
        assert (await client.get(f"{API}/admin/stats", headers=admin)).status_code == 200

    assert seen["unkeyed"] == []
    assert len(seen["keyed"]) > 50 and seen["cross"]  # the journey did reach the order tables both ways


async def test_orders_made_before_the_upgrade_get_their_buyer_and_stay_visible(
    client: httpx.AsyncClient, container: Any, settings: Any
) -> None:
    """Migration 0013 on a shop with orders: every row of an order gets its buyer, the directory and the sellers'
    index are filled in, and buyer, seller and carrier find the order, shipment and return as before."""
    seller, buyer, order_id, line, _ = await delivered_order(client, container, 2)
    ret = await client.post(f"{API}/orders/{order_id}/returns", headers=buyer, json=return_body(line, 1))
    assert ret.status_code == 201, ret.text
    before = await order(client, buyer, order_id)
    await container.db.engine.dispose()
    await container.db.read_engine.dispose()
    await asyncio.to_thread(downgrade, settings, "0009b")
    await asyncio.to_thread(upgrade, settings)

    async with container.read_uow() as uow:
        buyer_id = before["buyer_id"]
        for table in ORDER_TABLES:
            rows = (await uow.session.execute(text(f"SELECT DISTINCT user_id FROM {table}"))).scalars()  # noqa: S608
            assert list(rows) == [buyer_id], table
        named = (await uow.session.execute(text("SELECT id FROM order_directory ORDER BY id"))).scalars()
        assert sorted(named) == sorted([order_id, before["shipments"][0]["id"], ret.json()["id"]])
    assert await order(client, buyer, order_id) == before
    mine = (await client.get(f"{API}/sellers/me/orders", headers=seller)).json()
    assert [o["id"] for o in mine["items"]] == [order_id]
    received = await client.post(f"{API}/sellers/me/returns/{ret.json()['id']}/receive", headers=seller)
    assert received.status_code == 200, received.text
