"""Reservations under real concurrency on PostgreSQL: many connections, two engines (as two processes would)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bazaar.bootstrap import Container, build_container
from bazaar.inventory import service as inventory
from bazaar.inventory.errors import InsufficientStock, ReservationExpired
from bazaar.inventory.models import Reservation
from bazaar.kernel.clock import utcnow
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
