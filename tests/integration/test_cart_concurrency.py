"""Carts under real concurrency on PostgreSQL: one cart per user, an add without the cart's lock that finds its
cart moved done again under it, and an anonymous cart merged only once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from asyncpg.prepared_stmt import PreparedStatement

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


async def test_adds_that_find_their_cart_moved_are_done_again_under_its_lock(
    container: Container, engines: list[Container], pg_database: str
) -> None:
    """Eight adds read the cart while a writer holds its lock (as a checkout taking the ordered lines out does) and
    moves it on: each add's write finds the cart moved and writes nothing, and each is done again under the lock,
    one after another, on the cart as the writer left it: every unit added, none twice."""
    offer, other = await make_offer(container, quantity=100), await make_offer(container, quantity=100)
    user_id = await _user(container, "held")
    owner = carts.CartOwner(user_id=user_id)
    async with container.uow() as uow:
        cart = await carts.add_item(
            uow=uow, store=container.carts, cache=container.cache, owner=owner, offer_id=offer.id, quantity=1
        )
    dsn = pg_database.replace("postgresql+asyncpg://", "postgresql://")
    holder, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute(  # the writer: the cart locked and moved on, one more unit of the line
            "UPDATE carts SET updated_at = updated_at + interval '1 millisecond' WHERE id = $1", cart.id
        )
        await holder.execute("UPDATE cart_items SET quantity = quantity + 1 WHERE cart_id = $1", cart.id)
        relocked = carts.adds_relocked

        async def add(c: Container, offer_id: str) -> None:
            async with c.uow() as uow:
                await carts.add_item(uow=uow, store=c.carts, cache=c.cache, owner=owner, offer_id=offer_id, quantity=1)

        adds = [asyncio.create_task(add(engines[i % 2], (offer, other)[i % 2].id)) for i in range(8)]
        for _ in range(200):  # until all eight wait for the writer's lock (each has read the cart by then)
            waiting = await watcher.fetchval(  # (not the holder: a transaction reads one snapshot of the activity)
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if waiting == 8:
                break
            await asyncio.sleep(0.05)
        assert waiting == 8
        await tx.commit()
        await asyncio.gather(*adds)
    finally:
        await holder.close()
        await watcher.close()
    assert carts.adds_relocked - relocked == 8
    async with container.read_uow() as uow:
        final = await carts.get_cart(uow=uow, store=container.carts, cache=container.cache, owner=owner)
    assert sorted((i.offer_id, i.quantity) for i in final.items) == sorted([(offer.id, 6), (other.id, 4)])


async def test_an_add_is_two_statements_and_no_transaction(
    container: Container, settings_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A buyer's adds (the cart's first, a new line, more of a line; an anonymous buyer's too): each one statement
    that reads the cart and one that writes the line and moves the cart's version on, each on its own (no BEGIN, no
    COMMIT), and the cart reads back as the adds answered."""
    sent: list[str] = []

    def on_connection(original: Any) -> Any:  # Connection.execute and .fetch: BEGIN, COMMIT, statements on the driver
        async def sending(self: asyncpg.Connection, query: str, *args: Any, **options: Any) -> Any:
            sent.append(query)
            return await original(self, query, *args, **options)

        return sending

    prepared_fetch = PreparedStatement.fetch  # what SQLAlchemy's own statements go through

    async def prepared(self: PreparedStatement, *args: Any, **options: Any) -> Any:
        sent.append(self.get_query())
        return await prepared_fetch(self, *args, **options)

    a, b = await make_offer(container, quantity=10), await make_offer(container, quantity=10)
    user_id = await _user(container, "one-device")
    # A pool that never pings a connection before use (a slow machine could leave one idle past the threshold).
    quiet = build_container(settings_factory(db_ping_after_idle_seconds=3600))
    await quiet.db.warm(2)  # the engine's first connection runs the dialect's start-up queries
    relocked = carts.adds_relocked
    for method in ("execute", "fetch"):
        monkeypatch.setattr(asyncpg.Connection, method, on_connection(getattr(asyncpg.Connection, method)))
    monkeypatch.setattr(PreparedStatement, "fetch", prepared)
    try:
        for owner in (carts.CartOwner(user_id=user_id), carts.CartOwner()):
            for n, (offer, quantity) in enumerate(((a, 1), (b, 2), (a, 3))):
                sent.clear()
                async with quiet.uow() as uow:
                    cart = await carts.add_item(
                        uow=uow, store=quiet.carts, cache=quiet.cache, owner=owner, offer_id=offer.id,
                        quantity=quantity,
                    )  # fmt: skip
                write = "new_cart" if n == 0 else "unchanged"
                assert [q.split(maxsplit=2)[:2] for q in sent] == [["WITH", "found"], ["WITH", write]], sent
                if owner.user_id is None:
                    owner = carts.CartOwner(cart_id=cart.id)
            monkeypatch.undo()
            assert sorted((i.offer_id, i.quantity) for i in cart.items) == sorted([(a.id, 4), (b.id, 2)])
            async with container.read_uow() as uow:
                again = await carts.get_cart(uow=uow, store=container.carts, cache=container.cache, owner=owner)
            assert again == cart
            for method in ("execute", "fetch"):
                monkeypatch.setattr(asyncpg.Connection, method, on_connection(getattr(asyncpg.Connection, method)))
            monkeypatch.setattr(PreparedStatement, "fetch", prepared)
    finally:
        monkeypatch.undo()
        await quiet.close()
    assert carts.adds_relocked == relocked


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
