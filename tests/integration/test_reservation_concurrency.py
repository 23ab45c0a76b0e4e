"""Reservations under real concurrency on PostgreSQL: many connections, two engines (as two processes would)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bazaar.bootstrap import Container, build_container
from bazaar.catalog.models import Offer
from bazaar.db.outbox import OutboxEvent
from bazaar.inventory import service as inventory
from bazaar.inventory.errors import InsufficientStock, ReservationExpired
from bazaar.inventory.hot import hold_units
from bazaar.inventory.models import Reservation
from bazaar.inventory.schemas import ReservationRead
from bazaar.kernel.clock import utcnow
from bazaar.search.schemas import SearchParams
from bazaar.search.service import SearchService
from tests.catalog_builder import index_now
from tests.inventory_factories import levels, make_offer

TTL = timedelta(minutes=10)
pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
async def engines(settings_factory: Any, container: Container) -> AsyncIterator[list[Container]]:
    """Two more containers, each with its own connection pool, sharing the test database."""
    extra = [build_container(settings_factory(db_pool_size=20, db_max_overflow=0)) for _ in range(2)]
    try:
        yield extra
    finally:
        for c in extra:
            await c.close()


async def _spread(engines: list[Container], n: int, attempt: Callable[[Container], Awaitable[Any]]) -> list[Any]:
    return await asyncio.gather(*(attempt(engines[i % len(engines)]) for i in range(n)), return_exceptions=True)


async def _reserve_one(c: Container, offer_id: str) -> str:
    async with c.uow() as uow:
        [held] = await inventory.reserve_lines(uow=uow, lines=[(offer_id, 1)], ttl=TTL)
        await uow.commit()
        return held.id


@pytest.mark.parametrize("buckets", [1, 8])
async def test_200_buyers_race_for_20_units(container: Container, engines: list[Container], buckets: int) -> None:
    offer = await make_offer(container, quantity=20, buckets=buckets)
    results = await _spread(engines, 200, lambda c: _reserve_one(c, offer.id))
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if isinstance(r, InsufficientStock)]
    assert len(won) == 20, [r for r in results if not isinstance(r, str | InsufficientStock)][:3]
    assert len(lost) == 180, [repr(r)[:300] for r in results if not isinstance(r, str | InsufficientStock)][:3]
    assert await levels(container, offer.id) == (20, 0)
    async with container.read_uow() as uow:
        held = await uow.session.scalar(
            select(func.sum(Reservation.quantity)).where(Reservation.offer_id == offer.id, Reservation.status == "held")
        )
    assert held == 20


async def test_two_line_carts_of_one_bucket_offers_race_in_one_statement_each(
    container: Container, engines: list[Container]
) -> None:
    """Every cart holds both offers, each with one bucket: each hold takes both in one statement. Carts that
    read enough stock before another took the last units find it gone under the lock and are told how many
    are left; nothing is oversold and no cart holds one line without the other."""
    a = await make_offer(container, quantity=20, buckets=1)
    b = await make_offer(container, quantity=20, buckets=1)

    async def cart(c: Container) -> list[str]:
        async with c.uow() as uow:
            held = await inventory.reserve_lines(uow=uow, lines=[(b.id, 1), (a.id, 1)], ttl=TTL)
            await uow.commit()
            return [h.id for h in held]

    results = await _spread(engines, 120, cart)
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, InsufficientStock)]
    assert len(won) == 20 and all(len(r) == 2 for r in won)
    assert len(lost) == 100, [repr(r)[:300] for r in results if not isinstance(r, list | InsufficientStock)][:3]
    assert all(o["available"] == 0 for exc in lost for o in exc.details["offers"])
    assert await levels(container, a.id) == (20, 0) and await levels(container, b.id) == (20, 0)


async def test_two_line_sales_of_one_bucket_offers_in_parallel_sell_each_unit_once(
    container: Container, engines: list[Container]
) -> None:
    """Forty two-line holds over the same two one-bucket offers, sold at once from two pools, each sale naming its
    holds in either order: each sale takes both rows in one statement, locked in the lock order, so none waits on
    another in a cycle and on-hand stock drops by exactly what was sold."""
    a = await make_offer(container, quantity=50, buckets=1)
    b = await make_offer(container, quantity=50, buckets=1)
    carts = []
    for _ in range(40):
        async with container.uow() as uow:
            held = await inventory.reserve_lines(uow=uow, lines=[(a.id, 1), (b.id, 1)], ttl=TTL)
            await uow.commit()
        carts.append([h.id for h in held])

    async def sell(c: Container, ids: list[str]) -> None:
        random.shuffle(ids)
        async with c.uow() as uow:

            async def work() -> None:
                await inventory.commit_reservations(uow=uow, reservation_ids=ids)
                await uow.commit()

            await uow.run(work)

    results = await asyncio.gather(*(sell(engines[i % 2], ids) for i, ids in enumerate(carts)), return_exceptions=True)
    assert [r for r in results if r is not None] == []
    assert await levels(container, a.id) == (10, 10) and await levels(container, b.id) == (10, 10)


async def test_multi_line_carts_never_deadlock_or_oversell(container: Container, engines: list[Container]) -> None:
    a = await make_offer(container, quantity=30, buckets=4)
    b = await make_offer(container, quantity=30, buckets=1)

    async def cart(c: Container) -> str:
        lines = [(a.id, 1), (b.id, 1)]
        random.shuffle(lines)  # callers hand lines in any order; the service locks in one order
        async with c.uow() as uow:
            held = await inventory.reserve_lines(uow=uow, lines=lines, ttl=TTL)
            await uow.commit()
            return held[0].id

    results = await _spread(engines, 80, cart)
    assert sum(isinstance(r, str) for r in results) == 30
    assert all(isinstance(r, str | InsufficientStock) for r in results), results
    assert await levels(container, a.id) == (30, 0)
    assert await levels(container, b.id) == (30, 0)


async def test_concurrent_sweepers_return_expired_units_exactly_once(
    container: Container, engines: list[Container]
) -> None:
    offer = await make_offer(container, quantity=40, buckets=4)
    for _ in range(40):
        await _reserve_one(container, offer.id)
    later = utcnow() + TTL + timedelta(seconds=1)

    async def sweep(c: Container) -> int:
        async with c.uow() as uow:
            n = await inventory.expire_due(uow=uow, now=later, limit=7)
            await uow.commit()
            return n

    total = 0
    for _ in range(5):
        total += sum(await _spread(engines, 6, sweep))
    assert total == 40
    assert await levels(container, offer.id) == (40, 40)


async def test_a_reservation_released_concurrently_returns_its_units_once(
    container: Container, engines: list[Container]
) -> None:
    offer = await make_offer(container, quantity=5)
    async with container.uow() as uow:
        [held] = await inventory.reserve_lines(uow=uow, lines=[(offer.id, 3)], ttl=TTL)
        await uow.commit()

    async def release(c: Container) -> str:
        async with c.uow() as uow:
            r = await inventory.release_reservation(uow=uow, reservation_id=held.id)
            await uow.commit()
            return r.status

    assert await _spread(engines, 20, release) == ["released"] * 20
    assert await levels(container, offer.id) == (5, 5)


async def test_a_sweeper_racing_commits_never_returns_sold_units(
    container: Container, engines: list[Container]
) -> None:
    offer = await make_offer(container, quantity=30, buckets=2)
    rids = [await _reserve_one(container, offer.id) for _ in range(30)]
    later = utcnow() + TTL + timedelta(seconds=1)  # the sweeper believes every hold is due

    async def commit(c: Container, rid: str) -> str:
        async with c.uow() as uow:
            await inventory.commit_reservation(uow=uow, reservation_id=rid)
            await uow.commit()
            return "committed"

    async def sweep(c: Container) -> int:
        async with c.uow() as uow:
            n = await inventory.expire_due(uow=uow, now=later, limit=3)
            await uow.commit()
            return n

    commits = [commit(engines[i % 2], rid) for i, rid in enumerate(rids)]
    sweeps = [sweep(engines[i % 2]) for i in range(15)]
    results = await asyncio.gather(*commits, *sweeps, return_exceptions=True)
    committed = results[:30].count("committed")
    refused = sum(isinstance(r, ReservationExpired) for r in results[:30])
    assert committed + refused == 30, results
    async with container.uow() as uow:  # whatever the sweepers missed
        await inventory.expire_due(uow=uow, now=later)
        await uow.commit()
    # Sold units left stock for good; every unit not sold is free again, none twice.
    assert await levels(container, offer.id) == (30 - committed, 30 - committed)


async def test_lines_bigger_than_a_bucket_race_without_overselling(
    container: Container, engines: list[Container]
) -> None:
    offer = await make_offer(container, quantity=30, buckets=8)  # 3 or 4 units per bucket

    async def reserve_five(c: Container) -> str:
        async with c.uow() as uow:
            [held] = await inventory.reserve_lines(uow=uow, lines=[(offer.id, 5)], ttl=TTL)
            await uow.commit()
            return held.id

    results = await _spread(engines, 40, reserve_five)
    assert sum(isinstance(r, str) for r in results) == 6
    assert all(isinstance(r, str | InsufficientStock) for r in results), results
    assert await levels(container, offer.id) == (30, 0)


async def test_a_busy_fast_path_keeps_the_callers_unflushed_changes(container: Container) -> None:
    """The SAVEPOINT rollback after a failed SKIP LOCKED try must not take the caller's own changes with it."""
    from bazaar.inventory.models import StockBucket

    offer = await make_offer(container, quantity=16, buckets=16)
    other = await make_offer(container, quantity=5)
    blocker = build_container(container.settings)
    try:
        async with blocker.uow() as held_elsewhere:  # every bucket locked: the fast path must fall back
            await held_elsewhere.session.execute(
                select(StockBucket).where(StockBucket.offer_id == offer.id).with_for_update()
            )

            async def checkout() -> None:
                async with container.uow() as uow:
                    row = await uow.session.get(StockBucket, (other.id, 0))
                    assert row is not None
                    row.on_hand, row.available = 7, 7  # a change the caller made before reserving
                    await inventory.reserve_lines(uow=uow, lines=[(offer.id, 1)], ttl=TTL)
                    await uow.commit()

            task = asyncio.create_task(checkout())
            await asyncio.sleep(0.3)
            await held_elsewhere.rollback()
            await task
    finally:
        await blocker.close()
    assert await levels(container, other.id) == (7, 7)
    assert await levels(container, offer.id) == (16, 15)


async def _hold_one(c: Container, offer_id: str, quantity: int = 1) -> str:
    """The flash-sale path (POST /reservations): one statement when it can place the hold, else reserve_lines."""
    held = await hold_units(
        hot=c.hot_reservations, uow_factory=c.uow, offer_id=offer_id, quantity=quantity, user_id=None, ttl=TTL,
        sold_out=c.sold_out,
    )  # fmt: skip
    return held.id


@pytest.mark.parametrize("buckets", [1, 8, 16])
async def test_the_single_statement_hold_never_oversells(
    container: Container, engines: list[Container], buckets: int
) -> None:
    offer = await make_offer(container, quantity=20, buckets=buckets)
    # Mixed sizes: 2- and 3-unit holds may not fit any one bucket and then take the gathering path.
    sizes = [1, 1, 1, 2, 3] * 40
    results = await asyncio.gather(
        *(_hold_one(engines[i % 2], offer.id, q) for i, q in enumerate(sizes)), return_exceptions=True
    )
    odd = [r for r in results if not isinstance(r, str | InsufficientStock)]
    assert not odd, [repr(r)[:300] for r in odd[:3]]
    won = [q for q, r in zip(sizes, results, strict=True) if isinstance(r, str)]
    assert sum(won) <= 20
    async with container.read_uow() as uow:
        held = await uow.session.scalar(
            select(func.sum(Reservation.quantity)).where(Reservation.offer_id == offer.id, Reservation.status == "held")
        )
    assert held == sum(won)
    on_hand, available = await levels(container, offer.id)
    assert (on_hand, available) == (20, 20 - sum(won))
    assert available == 0 or min(sizes) > available  # nobody was turned away while a hold still fitted
    # Every hold went to the hot path's or the general path's rows: one reservations_made event each.
    async with container.read_uow() as uow:
        events = await uow.session.scalar(
            select(func.count()).where(
                OutboxEvent.topic == "inventory.reservations_made.v1", OutboxEvent.key == offer.id
            )
        )
    assert events == len(won)


async def test_the_hot_path_writes_the_same_hold_and_events_as_the_general_path(container: Container) -> None:
    assert container.hot_reservations is not None
    offer = await make_offer(container, quantity=2, buckets=1)
    general = await _reserve_one(container, offer.id)
    hot = await container.hot_reservations.hold(offer_id=offer.id, quantity=1, user_id=None)
    assert hot is not None  # the last unit: the offer is sold out now
    async with container.read_uow() as uow:
        rows = {
            r.id: r
            for r in (await uow.session.execute(select(Reservation).where(Reservation.offer_id == offer.id))).scalars()
        }
        made = (
            await uow.session.execute(
                select(OutboxEvent.payload).where(OutboxEvent.topic == "inventory.reservations_made.v1")
                .where(OutboxEvent.key == offer.id).order_by(OutboxEvent.id)
            )
        ).scalars().all()  # fmt: skip
        changed = (
            await uow.session.execute(
                select(OutboxEvent.key, OutboxEvent.payload).where(OutboxEvent.topic == "inventory.stock_changed.v1")
                .where(OutboxEvent.payload["offer_id"].as_string() == offer.id).order_by(OutboxEvent.id)
            )
        ).all()  # fmt: skip
    a, b = rows[general], rows[hot.id]
    same = ("offer_id", "bucket", "quantity", "status", "checkout_id", "user_id")
    assert [getattr(a, f) for f in same] == [getattr(b, f) for f in same]
    assert (b.expires_at - b.created_at) == TTL
    assert len(made) == 2 and made[0].keys() == made[1].keys()
    [held] = made[1]["holds"]
    assert held == {**made[0]["holds"][0], "reservation_id": hot.id}
    assert made[1] == {**made[0], "holds": [held], "expires_at": made[1]["expires_at"]}
    assert held["seller_id"] == offer.seller_id
    # The hot hold took the last unit: readers are told the offer is sold out, and late buyers turned away early.
    assert changed[-1] == (
        offer.product_id, {"offer_id": offer.id, "product_id": offer.product_id, "on_hand": 2, "available": 0}
    )  # fmt: skip
    assert await container.sold_out.is_sold_out(offer.id)


async def test_the_hot_path_leaves_unknown_and_paused_offers_to_the_general_path(container: Container) -> None:
    assert container.hot_reservations is not None
    assert await container.hot_reservations.hold(offer_id="nope", quantity=1, user_id=None) is None
    offer = await make_offer(container, quantity=5, buckets=4)
    async with container.uow() as uow:
        await uow.session.execute(update(Offer).where(Offer.id == offer.id).values(status="inactive"))
        await uow.commit()
    assert await container.hot_reservations.hold(offer_id=offer.id, quantity=1, user_id=None) is None
    assert await levels(container, offer.id) == (5, 5)


async def test_readers_hear_of_the_sell_out_when_the_last_buckets_empty_at_once(
    container: Container, engines: list[Container]
) -> None:
    offer = await make_offer(container, quantity=20, buckets=16)
    results = await asyncio.gather(*(_hold_one(engines[i % 2], offer.id) for i in range(100)), return_exceptions=True)
    assert sum(isinstance(r, str) for r in results) == 20
    async with container.read_uow() as uow:
        told = (
            await uow.session.execute(
                select(OutboxEvent.payload).where(OutboxEvent.topic == "inventory.stock_changed.v1")
                .where(OutboxEvent.payload["offer_id"].as_string() == offer.id)
            )
        ).scalars().all()  # fmt: skip
    assert {"offer_id": offer.id, "product_id": offer.product_id, "on_hand": 20, "available": 0} in told
    assert any([await c.sold_out.is_sold_out(offer.id) for c in engines])  # the process that sold the last unit


async def test_two_carts_emptying_the_last_two_buckets_still_tell_readers(
    container: Container, engines: list[Container]
) -> None:
    """Each cart empties one bucket while the other's hold is uncommitted, so each sees units left elsewhere.

    Neither transaction alone can see the sell-out, yet search must stop calling the offer in stock.
    """
    offer = await make_offer(container, quantity=2, buckets=2, title="Zebrawood Marimba")
    await index_now(container)
    assert await _in_stock_hits(container, "zebrawood") == 1
    async with engines[0].uow() as first, engines[1].uow() as second:
        await inventory.reserve_lines(uow=first, lines=[(offer.id, 1)], ttl=TTL)
        await inventory.reserve_lines(uow=second, lines=[(offer.id, 1)], ttl=TTL)  # skips the bucket first holds
        await first.commit()
        await second.commit()
    assert await levels(container, offer.id) == (2, 0)
    await index_now(container)
    assert await _in_stock_hits(container, "zebrawood") == 0


async def _in_stock_hits(container: Container, q: str) -> int:
    service: SearchService = container.extras["search"]
    answer = await service.search_json(SearchParams(q=q, in_stock=True))
    return int(json.loads(answer.body)["total"])


async def test_one_statement_places_a_whole_batch_of_holds(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    hot = container.hot_reservations
    assert hot is not None
    offer = await make_offer(container, quantity=40, buckets=16)  # 2 or 3 units per bucket
    other = await make_offer(container, quantity=5, buckets=1)
    holds = [hot.hold(offer_id=offer.id, quantity=1, user_id=None) for _ in range(30)]
    holds += [hot.hold(offer_id=other.id, quantity=2, user_id=None) for _ in range(3)]
    got = await asyncio.gather(*holds, return_exceptions=True)
    assert all(isinstance(g, ReservationRead) for g in got[:30])
    # 2 + 2 of 5 units; the third is answered from the locked buckets: 1 unit left.
    assert [type(g) for g in got[30:]] == [ReservationRead, ReservationRead, InsufficientStock]
    assert got[32].details["offers"] == [{"offer_id": other.id, "requested": 2, "available": 1}]
    assert await levels(container, offer.id) == (40, 10)
    assert await levels(container, other.id) == (5, 1)
    # A hold bigger than any one bucket is left to the general path, which gathers units into one bucket.
    assert await hot.hold(offer_id=offer.id, quantity=5, user_id=None) is None
    assert "batched holds failed" not in caplog.text
