"""A voucher limited to N uses under a rush of checkouts on PostgreSQL: never used N + 1 times (the same guarantee
as stock: a conditional UPDATE and a CHECK constraint), and the losers hold nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bazaar.accounts.models import User
from bazaar.bootstrap import Container, build_container
from bazaar.cart import service as carts
from bazaar.checkout import service as checkout
from bazaar.checkout.schemas import CheckoutRequest
from bazaar.kernel.clock import utcnow
from bazaar.kernel.errors import DomainError
from bazaar.orders.models import Order
from bazaar.promotions import service as promotions
from bazaar.promotions.models import Voucher, VoucherRedemption
from bazaar.promotions.schemas import VoucherCreate
from tests.e2e.test_checkout import ADDRESS, APPROVE
from tests.inventory_factories import levels, make_offer

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
async def engines(settings_factory: Any, container: Container) -> AsyncIterator[list[Container]]:
    extra = [build_container(settings_factory(db_pool_size=30, db_max_overflow=0)) for _ in range(2)]
    try:
        yield extra
    finally:
        for c in extra:
            await c.close()


async def _buyer_with_voucher(container: Container, n: int, offer_id: str) -> str:
    async with container.uow() as uow:
        user = User(email=f"rush{n}@example.com", name=f"Rusher {n}", password_hash="x")
        uow.session.add(user)
        await uow.commit()
        user_id = user.id
    owner = carts.CartOwner(user_id=user_id)
    async with container.uow() as uow:
        await carts.add_item(
            uow=uow, store=container.carts, cache=container.cache, owner=owner, offer_id=offer_id, quantity=1
        )
    async with container.uow() as uow:
        await carts.apply_voucher(uow=uow, store=container.carts, cache=container.cache, owner=owner, code="RUSH20")
    return user_id


async def test_200_buyers_rushing_a_voucher_limited_to_20_uses(container: Container, engines: list[Container]) -> None:
    offer = await make_offer(container, quantity=1000, price=5000)
    async with container.uow() as uow:
        now = utcnow()
        await promotions.create_voucher(
            uow=uow,
            seller_id=offer.seller_id,
            data=VoucherCreate(
                code="RUSH20",
                kind="percent",
                value=20,
                max_uses=20,
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=1),
            ),
        )
    buyers = [await _buyer_with_voucher(container, n, offer.id) for n in range(200)]
    request = CheckoutRequest.model_validate(
        {
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"card_number": APPROVE, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
    )

    # 50 checkouts in flight at any moment (25 per engine, within each pool): the race is real, and a loaded
    # machine does not turn it into pool time-outs.
    gates = [asyncio.Semaphore(25), asyncio.Semaphore(25)]

    async def attempt(n: int, user_id: str) -> Any:
        c = engines[n % 2]
        async with gates[n % 2]:
            return await checkout.start_checkout(
                deps=c.saga_deps(), user_id=user_id, idempotency_key=f"rush-{n}", request=request
            )

    results = await asyncio.gather(*(attempt(n, u) for n, u in enumerate(buyers)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert {getattr(f, "code", repr(f)) for f in failures} == {"voucher_exhausted"}, failures[:3]
    assert len(results) - len(failures) == 20
    async with container.read_uow() as uow:
        discounted = await uow.session.scalar(select(func.count()).where(Order.discount_amount == 1000))
        orders = await uow.session.scalar(select(func.count()).select_from(Order))
        voucher = (await uow.session.execute(select(Voucher))).scalar_one()
        used = await uow.session.scalar(select(func.count()).where(VoucherRedemption.status == "used"))
        held = await uow.session.scalar(select(func.count()).where(VoucherRedemption.status == "held"))
    assert discounted == orders == used == voucher.uses == 20 and held == 0
    assert await levels(container, offer.id) == (980, 980)  # 20 sold; the 180 who lost hold nothing
    assert all(isinstance(f, DomainError) for f in failures)
