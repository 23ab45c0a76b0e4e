"""Carts under real concurrency on PostgreSQL: one cart per user, and an anonymous cart merged only once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bazaar.accounts.models import User
from bazaar.bootstrap import Container, build_container
from bazaar.cart import service as carts
from tests.inventory_factories import make_offer

pytestmark = pytest.mark.usefixtures("pg_only")


@pytest.fixture
async def engines(settings_factory: Any, container: Container) -> AsyncIterator[list[Container]]:
    extra = [build_container(settings_factory(db_pool_size=10, db_max_overflow=0)) for _ in range(2)]
    try:
        yield extra
    finally:
        for c in extra:
            await c.close()


async def _user(container: Container, name: str) -> str:
    async with container.uow() as uow:
        user = User(email=f"{name}@example.com", name=name, password_hash="x")
        uow.session.add(user)
        await uow.commit()
        return user.id


async def test_concurrent_adds_on_two_devices_make_one_cart(container: Container, engines: list[Container]) -> None:
    offer = await make_offer(container, quantity=100)
    user_id = await _user(container, "two-devices")

    async def add(c: Container) -> str | None:
        async with c.uow() as uow:
            cart = await carts.add_item(
                uow=uow, store=c.carts, cache=c.cache, owner=carts.CartOwner(user_id=user_id), offer_id=offer.id,
                quantity=1,
            )  # fmt: skip
            return cart.id

    ids = await asyncio.gather(*(add(engines[i % 2]) for i in range(20)))
    assert len(set(ids)) == 1
    async with container.read_uow() as uow:
        cart = await carts.get_cart(
            uow=uow, store=container.carts, cache=container.cache, owner=carts.CartOwner(user_id=user_id)
        )
    assert [i.quantity for i in cart.items] == [20]


async def test_an_anonymous_cart_is_merged_once_even_when_two_logins_race(
    container: Container, engines: list[Container]
) -> None:
    offer = await make_offer(container, quantity=100)
    async with container.uow() as uow:
        anon = await carts.add_item(
            uow=uow, store=container.carts, cache=container.cache, owner=carts.CartOwner(), offer_id=offer.id,
            quantity=3,
        )  # fmt: skip
    users = [await _user(container, f"racer{i}") for i in range(6)]

    async def merge(c: Container, user_id: str) -> str | None:
        async with c.uow() as uow:
            return await carts.merge_carts(
                uow=uow, store=c.carts, cache=c.cache, user_id=user_id, anonymous_cart_id=anon.id
            )

    merged = await asyncio.gather(*(merge(engines[i % 2], u) for i, u in enumerate(users)))
    assert sum(cart_id is not None for cart_id in merged) == 1  # only the winner got a cart out of it
    total = 0
    for user_id in users:
        async with container.read_uow() as uow:
            cart = await carts.get_cart(
                uow=uow, store=container.carts, cache=container.cache, owner=carts.CartOwner(user_id=user_id)
            )
        total += sum(i.quantity for i in cart.items)
    assert total == 3
