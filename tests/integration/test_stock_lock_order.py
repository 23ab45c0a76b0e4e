"""Every path that changes stock, all at once on PostgreSQL with real parallel connections: no deadlock.

Buyers reserve 1-3 lines in any order (some holds expire, some are committed into orders that are then
cancelled, some checkouts fail and are compensated), the batched hot path holds single units, the
sweeper expires holds, returns put units back, sellers edit stock and bucket counts. Afterwards
`pg_stat_database.deadlocks` must not have moved, no transaction may have needed a retry, and every
bucket's held units must equal what its live reservations hold.

The CI form runs 20 s; `BAZAAR_STOCK_MIX_SECONDS=60` runs it for a minute (or longer).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bazaar.accounts.models import User
from bazaar.bootstrap import Container, build_container
from bazaar.catalog.models import Offer
from bazaar.catalog.schemas import OfferUpdate
from bazaar.catalog.service import update_offer
from bazaar.checkout.models import Checkout
from bazaar.checkout.saga import compensate
from bazaar.db import uow as uow_module
from bazaar.inventory import service as inventory
from bazaar.inventory import stock
from bazaar.inventory.errors import InsufficientStock, StockBelowHeld
from bazaar.inventory.hot import hold_units
from bazaar.inventory.models import Reservation, StockBucket
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import Conflict
from bazaar.kernel.ids import new_id
from bazaar.orders.service import NewOrderLine, cancel_order, place_order
from bazaar.workers import reservation_sweeper
from tests.inventory_factories import MadeOffer, make_offer

pytestmark = pytest.mark.usefixtures("pg_only")
SHORT = timedelta(milliseconds=300)  # holds the sweeper will expire
LONG = timedelta(minutes=10)
EXPECTED = (InsufficientStock, StockBelowHeld, Conflict)  # refusals a buyer or seller may get; nothing else


@pytest.fixture
async def pools(settings_factory: Any, container: Container) -> AsyncIterator[list[Container]]:
    """Three more containers, each with its own pool, as three processes would have."""
    extra = [build_container(settings_factory(db_pool_size=8, db_max_overflow=0)) for _ in range(3)]
    try:
        yield extra
    finally:
        for c in extra:
            await c.close()


async def _deadlocks(container: Container) -> int:
    async with container.db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
        return int(
            (
                await conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
            ).scalar_one()
        )


class Mix:
    def __init__(self, offers: list[MadeOffer], skus: dict[str, str], user_id: str, seed: int) -> None:
        self.offers, self.skus, self.user_id = offers, skus, user_id
        self.rng = random.Random(seed)
        self.done: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.failures: list[BaseException] = []

    def lines(self) -> list[tuple[str, int]]:
        picked = self.rng.sample(self.offers, self.rng.randint(1, 3))
        self.rng.shuffle(picked)  # callers hand lines in any order
        return [(o.id, self.rng.randint(1, 3)) for o in picked]

    async def _checkout_row(self, uow: Any, status: str) -> str:
        checkout_id = new_id()
        uow.session.add(
            Checkout(
                id=checkout_id, user_id=self.user_id, idempotency_key=checkout_id, request_hash="-", status=status,
                deadline_at=utcnow() + timedelta(minutes=1), lines=[],
            )
        )  # fmt: skip
        await uow.flush()
        return checkout_id

    async def reserve_then(self, c: Container) -> None:
        """A checkout's hold, then one of: left to expire, released, or committed into an order (maybe cancelled)."""
        ttl = SHORT if self.rng.random() < 0.3 else LONG
        wanted = self.lines()
        async with c.uow() as uow:

            async def reserve() -> list[Any]:
                held = await inventory.reserve_lines(uow=uow, lines=wanted, ttl=ttl, user_id=self.user_id)
                await uow.commit()
                return held

            held = await uow.run(reserve)
        ids = [r.id for r in held]
        self.rng.shuffle(ids)
        if ttl == SHORT:
            return
        if self.rng.random() < 0.3:
            async with c.uow() as uow:
                await uow.run(lambda: self._release(uow, ids))
            return
        async with c.uow() as uow:
            order_id = await uow.run(lambda: self._order(uow, held))
        if self.rng.random() < 0.6:
            async with c.uow() as uow:
                payments = c.order_payments()
                await uow.run(lambda: cancel_order(uow=uow, payments=payments, order_id=order_id, user_id=self.user_id))
            self.done["cancelled"] += 1

    async def _release(self, uow: Any, ids: list[str]) -> None:
        await inventory.release_reservations(uow=uow, reservation_ids=ids)
        await uow.commit()

    async def _order(self, uow: Any, held: list[Any]) -> str:
        await inventory.commit_reservations(uow=uow, reservation_ids=[r.id for r in held])
        by_id = {o.id: o for o in self.offers}
        lines = [
            NewOrderLine(
                offer_id=r.offer_id, sku_id=self.skus[r.offer_id], product_id=by_id[r.offer_id].product_id,
                seller_id=by_id[r.offer_id].seller_id, reservation_id=r.id, title="x", quantity=r.quantity,
                unit_price=100, tax=0,
            )
            for r in held
        ]  # fmt: skip
        order_id = await place_order(
            uow=uow, user_id=self.user_id, checkout_id=await self._checkout_row(uow, "completed"), currency="USD",
            lines=lines, shipping_by_seller={}, subtotal=100, shipping=0, tax=0, shipping_address={},
            shipping_method=None,
        )  # fmt: skip
        await uow.commit()
        return order_id

    async def declined_checkout(self, c: Container) -> None:
        """The saga's failure path: holds taken for a checkout, then the card is declined and it compensates."""
        wanted = self.lines()
        async with c.uow() as uow:

            async def reserve() -> str:
                checkout_id = await self._checkout_row(uow, "priced")
                held = await inventory.reserve_lines(uow=uow, lines=wanted, ttl=LONG, checkout_id=checkout_id)
                checkout = await uow.session.get(Checkout, checkout_id)
                assert checkout is not None
                checkout.lines = [{"offer_id": r.offer_id, "reservation_id": r.id} for r in held]
                await uow.commit()
                return checkout_id

            checkout_id = await uow.run(reserve)
        assert await compensate(c.saga_deps(), checkout_id, "payment_declined", "declined")

    async def hot_hold(self, c: Container) -> None:
        offer = self.rng.choice(self.offers)
        ttl = SHORT if self.rng.random() < 0.5 else LONG
        held = await hold_units(
            hot=c.hot_reservations, uow_factory=c.uow, offer_id=offer.id, quantity=1, user_id=self.user_id,
            ttl=ttl, sold_out=None,
        )  # fmt: skip
        if ttl == LONG:
            async with c.uow() as uow:
                await uow.run(lambda: self._release(uow, [held.id]))

    async def sweep(self, c: Container) -> None:
        await reservation_sweeper.run_once(c)
        await asyncio.sleep(0.05)

    async def returned(self, c: Container) -> None:
        """A received return puts units of several offers back on the shelf (as `receive_return` does)."""
        lines = [stock.Restock(o, next(x.product_id for x in self.offers if x.id == o), q) for o, q in self.lines()]

        async def restock() -> None:
            await stock.restock(uow=uow, lines=lines)
            await uow.commit()

        async with c.uow() as uow:
            await uow.run(restock)

    async def seller_edit(self, c: Container) -> None:
        offer = self.rng.choice(self.offers)
        async with c.read_uow() as uow:
            level = (await stock.stock_levels(uow=uow, offer_ids=[offer.id]))[offer.id]
        quantity = max(0, level.on_hand + self.rng.randint(-10, 25))
        async with c.uow() as uow:
            data = OfferUpdate(quantity=quantity)
            await uow.run(lambda: update_offer(uow=uow, seller_id=offer.seller_id, offer_id=offer.id, data=data))
        if self.rng.random() < 0.2:
            async with c.uow() as uow:
                buckets = self.rng.choice([1, 2, 4, 8])
                await uow.run(
                    lambda: inventory.set_offer_buckets(
                        uow=uow, seller_id=offer.seller_id, offer_id=offer.id, buckets=buckets
                    )
                )

    def _every_path_ran(self) -> bool:
        return all(self.done[n] for n in ("reserve", "declined", "hot", "sweep", "return", "seller", "cancelled"))

    async def loop(self, name: str, step: Callable[[], Awaitable[None]], until: float) -> None:
        # On a loaded machine some path may not have come round in time: go on (a while) until each has.
        give_up = until + 2 * (until - time.monotonic())
        while time.monotonic() < until or (not self._every_path_ran() and time.monotonic() < give_up):
            try:
                await step()
                self.done[name] += 1
            except EXPECTED as exc:
                self.refused[type(exc).__name__] += 1
            except Exception as exc:  # every other outcome fails the test
                self.failures.append(exc)


def _where(exc: BaseException) -> str:
    """The exception and the frames of our code it went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames if "site-packages" not in f.filename]
    return f"{exc!r}"[:300] + " at " + " > ".join(ours)


async def _buyer(container: Container) -> str:
    async with container.uow() as uow:
        user = User(email=f"mix-{new_id()}@example.com", name="Mix", password_hash="x")
        uow.session.add(user)
        await uow.commit()
        return user.id


async def _run_mix(container: Container, pools: list[Container], seconds: float) -> None:
    offers = [
        await make_offer(container, quantity=q, buckets=b)
        for q, b in [(400, 1), (400, 1), (60, 1), (400, 4), (400, 8), (40, 2)]
    ]
    async with container.read_uow() as uow:
        ids = [o.id for o in offers]
        skus = dict((await uow.session.execute(select(Offer.id, Offer.sku_id).where(Offer.id.in_(ids)))).all())
    mix = Mix(offers, skus, await _buyer(container), seed=int(os.environ.get("BAZAAR_STOCK_MIX_SEED", "21")))
    before = await _deadlocks(container)
    retried = uow_module.conflicts_retried
    until = time.monotonic() + seconds
    roles: list[tuple[str, Callable[[Container], Awaitable[None]], int]] = [
        ("reserve", mix.reserve_then, 8),
        ("declined", mix.declined_checkout, 4),
        ("hot", mix.hot_hold, 4),
        ("sweep", mix.sweep, 2),
        ("return", mix.returned, 2),
        ("seller", mix.seller_edit, 2),
    ]
    tasks = []
    for name, action, count in roles:
        for i in range(count):
            c = pools[i % len(pools)]
            tasks.append(mix.loop(name, lambda action=action, c=c: action(c), until))  # type: ignore[misc]
    await asyncio.gather(*tasks)

    assert not mix.failures, [_where(f) for f in mix.failures[:3]]
    for name, _, _ in roles:
        assert mix.done[name] > 0, (name, mix.done, mix.refused)
    assert mix.done["cancelled"] > 0
    assert await _deadlocks(container) - before == 0
    assert uow_module.conflicts_retried == retried  # nothing needed the safety net
    # Units held in each bucket are exactly what its live holds take.
    async with container.read_uow() as uow:
        rows = await uow.session.execute(
            select(StockBucket.offer_id, StockBucket.bucket, StockBucket.on_hand - StockBucket.available)
        )
        buckets = {(o, b): held for o, b, held in rows}
        rows = await uow.session.execute(
            select(Reservation.offer_id, Reservation.bucket, func.sum(Reservation.quantity))
            .where(Reservation.status == "held")
            .group_by(Reservation.offer_id, Reservation.bucket)
        )
        holds = {(o, b): int(q) for o, b, q in rows}
    for key, held in buckets.items():
        assert held == holds.get(key, 0), (key, held, holds.get(key))


async def test_every_stock_path_at_once_never_deadlocks(container: Container, pools: list[Container]) -> None:
    await _run_mix(container, pools, float(os.environ.get("BAZAAR_STOCK_MIX_SECONDS", "20")))
