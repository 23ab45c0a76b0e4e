"""Flash-sale limits under real concurrency on PostgreSQL: many connections from three pools (three "devices"
or processes) at once; a buyer never gets more than the limit and the sale never sells more than its units."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bazaar.accounts.models import User
from bazaar.bootstrap import Container, build_container
from bazaar.flash_sales import holds, tokens
from bazaar.flash_sales.errors import FlashSaleOverlaps, FlashSaleSoldOut, PerBuyerLimitReached
from bazaar.flash_sales.models import FlashSale, FlashSaleBuyer
from bazaar.flash_sales.schemas import FlashSaleCreate
from bazaar.flash_sales.service import create_sale
from bazaar.inventory.models import Reservation
from bazaar.kernel.clock import utcnow
from tests.e2e.test_flash_sales import move_window
from tests.inventory_factories import levels, make_offer

pytestmark = pytest.mark.usefixtures("pg_only")
TTL = timedelta(minutes=2)


@pytest.fixture
async def devices(settings_factory: Any) -> AsyncIterator[list[Container]]:
    extra = [build_container(settings_factory(db_pool_size=20, db_max_overflow=0)) for _ in range(3)]
    try:
        yield extra
    finally:
        for c in extra:
            await c.close()


async def make_buyers(container: Container, n: int) -> list[str]:
    async with container.uow() as uow:
        users = [
            User(email=f"fs-buyer{i}-{id(container)}@example.com", name="Buyer", password_hash="x") for i in range(n)
        ]
        uow.session.add_all(users)
        await uow.commit()
        return [u.id for u in users]


async def live_sale(container: Container, *, stock: int, units: int, limit: int) -> tuple[str, str]:
    offer = await make_offer(container, quantity=stock, buckets=4)
    now = utcnow()
    data = FlashSaleCreate(
        offer_id=offer.id,
        price={"amount": 500, "currency": "USD"},  # type: ignore[arg-type]
        units=units,
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        per_buyer_limit=limit,
    )
    async with container.uow() as uow:
        sale = await create_sale(uow=uow, seller_id=offer.seller_id, data=data)
    await move_window(container, sale.id, started=timedelta(seconds=1), ends=timedelta(hours=1))
    return offer.id, sale.id


async def hold(c: Container, sale_id: str, offer_id: str, buyer_id: str, quantity: int = 1) -> Any:
    token = tokens.issue(
        c.settings.secret_key, tokens.Admission(sale_id, "t", buyer_id, utcnow() + timedelta(minutes=1))
    )
    async with c.uow() as uow:
        return await holds.hold_sale_units(
            uow=uow, secret=c.settings.secret_key, admission_token=token, offer_id=offer_id,
            buyer_id=buyer_id, quantity=quantity, ttl=TTL,
        )  # fmt: skip


async def held_by_buyer(container: Container, offer_id: str) -> Counter[str]:
    async with container.read_uow() as uow:
        rows = await uow.session.execute(
            select(Reservation.user_id, func.sum(Reservation.quantity))
            .where(Reservation.offer_id == offer_id, Reservation.status == "held")
            .group_by(Reservation.user_id)
        )
        return Counter({user: int(units) for user, units in rows})


async def test_twenty_holds_at_once_from_three_devices_get_the_limit(
    container: Container, devices: list[Container]
) -> None:
    offer_id, sale_id = await live_sale(container, stock=100, units=50, limit=3)
    [buyer] = await make_buyers(container, 1)
    results = await asyncio.gather(
        *(hold(devices[i % 3], sale_id, offer_id, buyer, quantity=1 + i % 2) for i in range(20)),
        return_exceptions=True,
    )
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, PerBuyerLimitReached)]
    assert not unexpected, unexpected[:3]
    assert (await held_by_buyer(container, offer_id))[buyer] == 3
    assert sum(r.quantity for r in results if not isinstance(r, Exception)) == 3
    async with container.read_uow() as uow:
        assert await uow.session.scalar(select(FlashSale.units_taken).where(FlashSale.id == sale_id)) == 3
        assert await uow.session.scalar(select(FlashSaleBuyer.units).where(FlashSaleBuyer.buyer_id == buyer)) == 3
    assert await levels(container, offer_id) == (100, 97)


async def test_a_crowd_never_gets_more_than_the_units_or_the_limit(
    container: Container, devices: list[Container]
) -> None:
    offer_id, sale_id = await live_sale(container, stock=200, units=30, limit=2)
    buyers = await make_buyers(container, 40)
    attempts = [(b, 1) for b in buyers for _ in range(3)]  # each buyer tries three single units at once
    results = await asyncio.gather(
        *(hold(devices[i % 3], sale_id, offer_id, b, q) for i, (b, q) in enumerate(attempts)), return_exceptions=True
    )
    refused = (PerBuyerLimitReached, FlashSaleSoldOut)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, refused)]
    per_buyer = await held_by_buyer(container, offer_id)
    assert sum(per_buyer.values()) == 30  # every unit of the sale went, none more
    assert max(per_buyer.values()) <= 2
    assert await levels(container, offer_id) == (200, 170)  # the offer's other units were never touched


async def test_overlapping_sales_scheduled_at_once_make_one_sale(
    container: Container, devices: list[Container]
) -> None:
    """A seller (or two of their tabs) scheduling overlapping sales of one offer at once: one is scheduled, every
    other is refused `flash_sale_overlaps`, never two sales live over each other."""
    offer = await make_offer(container, quantity=100, buckets=1)
    now = utcnow()

    async def schedule(c: Container, shift: int) -> str:
        data = FlashSaleCreate(
            offer_id=offer.id,
            price={"amount": 500, "currency": "USD"},  # type: ignore[arg-type]
            units=10,
            starts_at=now + timedelta(hours=1, minutes=shift),
            ends_at=now + timedelta(hours=2, minutes=shift),
            per_buyer_limit=1,
        )
        try:
            async with c.uow() as uow:
                await create_sale(uow=uow, seller_id=offer.seller_id, data=data)
            return "scheduled"
        except FlashSaleOverlaps:
            return "overlaps"

    for _ in range(3):  # three rounds: each starts with no sale live
        outcomes = await asyncio.gather(*(schedule(devices[i % 3], i) for i in range(9)))
        assert Counter(outcomes) == {"scheduled": 1, "overlaps": 8}, outcomes
        async with container.uow() as uow:
            await uow.session.execute(
                update(FlashSale).where(FlashSale.offer_id == offer.id).values(status="cancelled")
            )
            await uow.commit()


async def test_a_crowd_through_each_process_line_sells_exactly_the_units(
    container: Container, devices: list[Container]
) -> None:
    """As the API and the storefront hold: through each process's line per sale. Every unit goes, none more,
    nobody over the limit, no hold left waiting, and no process has more than two holds of the sale open at
    the database at once."""
    offer_id, sale_id = await live_sale(container, stock=200, units=30, limit=2)
    buyers = await make_buyers(container, 40)
    open_now = [0, 0, 0]
    most = [0, 0, 0]

    def counted(i: int) -> Any:
        @asynccontextmanager
        async def uow() -> AsyncIterator[Any]:
            open_now[i] += 1
            most[i] = max(most[i], open_now[i])
            try:
                async with devices[i].uow() as unit:
                    yield unit
            finally:
                open_now[i] -= 1

        return uow

    async def hold_in_line(i: int, buyer_id: str) -> Any:
        c = devices[i]
        token = tokens.issue(
            c.settings.secret_key, tokens.Admission(sale_id, "t", buyer_id, utcnow() + timedelta(minutes=1))
        )
        return await holds.hold_in_line(
            line=c.sale_hold_line, uow_factory=counted(i), secret=c.settings.secret_key, admission_token=token,
            offer_id=offer_id, buyer_id=buyer_id, quantity=1, ttl=TTL,
        )  # fmt: skip

    attempts = [b for b in buyers for _ in range(3)]
    results = await asyncio.wait_for(
        asyncio.gather(*(hold_in_line(i % 3, b) for i, b in enumerate(attempts)), return_exceptions=True), 60
    )
    refused = (PerBuyerLimitReached, FlashSaleSoldOut)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, refused)]
    per_buyer = await held_by_buyer(container, offer_id)
    assert sum(per_buyer.values()) == 30 and max(per_buyer.values()) <= 2
    assert await levels(container, offer_id) == (200, 170)
    assert max(most) == 2 and open_now == [0, 0, 0]
    assert all(d.sale_hold_line.sales == 0 for d in devices)
