"""Statements run on the driver (db/driver.py): the same answers, errors and transaction as through the session, on
both backends (PostgreSQL runs them on asyncpg's connection, SQLite through the session)."""

from __future__ import annotations

from typing import cast

import asyncpg
import pytest
from sqlalchemy import Numeric, Table, bindparam, select, text, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError

from bazaar.bootstrap import Container
from bazaar.db import driver
from bazaar.db.driver import Prepared
from bazaar.db.uow import is_transient_conflict
from bazaar.orders.models import OrderDirectory

DIRECTORY = cast(Table, OrderDirectory.__table__)
_d = DIRECTORY.c
BY_USER = Prepared(select(_d.id, _d.order_id).where(_d.user_id == bindparam("buyer")).order_by(_d.id))
AMONG = Prepared.listing(lambda one_of: select(_d.id).where(one_of(_d.id, "ids")).order_by(_d.id))
MOVE = Prepared(update(DIRECTORY).where(_d.user_id == bindparam("buyer")).values(user_id=bindparam("to")))


async def add(container: Container, *names: str, user: str = "u") -> None:
    async with container.uow() as uow:
        for name in names:
            uow.insert(DIRECTORY, {"id": name, "user_id": user, "order_id": f"o-{name}"})
        await uow.commit()


async def test_answers_read_as_the_sessions_do(container: Container) -> None:
    await add(container, "a", "b", "c")
    async with container.uow() as uow:
        await uow.session.execute(text("SELECT 1"))  # the transaction begun: PostgreSQL now runs them on the driver
        rows = (await uow.fetch(BY_USER, {"buyer": "u"})).all()
        assert [(r.id, r.order_id) for r in rows] == [("a", "o-a"), ("b", "o-b"), ("c", "o-c")]
        assert [tuple(r) for r in rows][0] == ("a", "o-a")
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalar() == "a"
        assert (await uow.fetch(BY_USER, {"buyer": "nobody"})).first() is None
        assert (await uow.fetch(AMONG, {"ids": ["c", "a", "zz"]})).scalars().all() == ["a", "c"]
        assert (await uow.fetch(MOVE, {"buyer": "u", "to": "v"})).rowcount == 3
        # The same transaction: the session sees the driver's change before the commit, and a rollback undoes it.
        assert (await uow.session.execute(select(_d.user_id).where(_d.id == "a"))).scalar() == "v"
        await uow.rollback()
    async with container.read_uow() as uow:
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalars().all() == ["a", "b", "c"]


async def test_a_constraint_broken_on_the_driver_is_sqlalchemys_integrity_error_and_the_rest_rolls_back(
    container: Container,
) -> None:
    await add(container, "a")
    with pytest.raises(IntegrityError):
        async with container.uow() as uow:
            await uow.fetch(MOVE, {"buyer": "u", "to": "w"})
            uow.insert(DIRECTORY, {"id": "a", "user_id": "u", "order_id": "again"})  # the same key
            await uow.commit()
    async with container.read_uow() as uow:
        assert [(r.id, r.order_id) for r in (await uow.fetch(BY_USER, {"buyer": "u"})).all()] == [("a", "o-a")]


async def test_a_lost_connection_is_an_outage_and_the_next_unit_of_work_gets_a_live_one(
    container: Container, pg_only: None
) -> None:
    await add(container, "a")
    with pytest.raises(InterfaceError) as raised:
        async with container.uow() as uow:
            pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar()
            async with container.read_uow() as other:
                await other.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await uow.fetch(BY_USER, {"buyer": "u"})
    assert raised.value.connection_invalidated
    async with container.uow() as uow:
        await uow.session.execute(text("SELECT 1"))
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalars().all() == ["a"]


def test_a_deadlock_on_the_driver_is_retried_like_one_through_the_session() -> None:
    error = driver.translated(asyncpg.DeadlockDetectedError("deadlock detected"), "UPDATE …", {}, connection_lost=False)
    assert type(error) is DBAPIError and is_transient_conflict(error)
    lost = driver.translated(ConnectionResetError("reset by peer"), "SELECT …", {}, connection_lost=True)
    assert isinstance(lost, InterfaceError) and lost.connection_invalidated
    # The driver refusing a value: the connection is fine, and it is no outage.
    refused = driver.translated(asyncpg.InterfaceError("invalid input for $1"), "SELECT …", {}, connection_lost=False)
    assert isinstance(refused, InterfaceError) and not refused.connection_invalidated


def test_a_statement_whose_results_sqlalchemy_would_convert_is_refused() -> None:
    decimal = Prepared(select(sql_cast(_d.id, Numeric(10, 2))))
    with pytest.raises(TypeError, match="conversion"):
        decimal.compiled  # noqa: B018


async def test_a_lone_read_needs_no_transaction_and_a_write_unit_of_work_reads_inside_its_own(
    container: Container, pg_only: None
) -> None:
    await add(container, "a")
    async with container.read_uow() as uow:
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalars().all() == ["a"]
        raw = (await (await uow.session.connection()).get_raw_connection()).driver_connection
        assert not raw.is_in_transaction()  # no BEGIN (nor ROLLBACK) for a read of one statement
        await uow.session.execute(text("SELECT 1"))  # the session's own statement begins one, as before
        assert raw.is_in_transaction()
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalar() == "a"
    async with container.uow() as uow:
        await uow.fetch(MOVE, {"buyer": "u", "to": "w"})  # a write unit of work begins its transaction first
        raw = (await (await uow.session.connection()).get_raw_connection()).driver_connection
        assert raw.is_in_transaction()
        assert (await uow.fetch(BY_USER, {"buyer": "w"})).scalar() == "a"
        await uow.rollback()
    async with container.read_uow() as uow:
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalar() == "a"


async def test_after_the_database_dropped_every_connection_a_read_fails_once_and_the_next_is_served(
    container: Container, pg_only: None
) -> None:
    await add(container, "a")
    # Two connections in the read pool, both handed back (as after a burst of reads).
    async with container.read_uow() as first, container.read_uow() as second:
        for uow in (first, second):
            assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalar() == "a"
    # The database drops every connection but ours (a restart, as far as the pool can tell).
    url = container.settings.resolved_database_url.replace("postgresql+asyncpg", "postgresql")
    killer = await asyncpg.connect(url)
    try:
        await killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await killer.close()
    with pytest.raises(InterfaceError):
        async with container.read_uow() as uow:
            await uow.fetch(BY_USER, {"buyer": "u"})
    # The next read is served (a live connection, not the pool's other dead one).
    async with container.read_uow() as uow:
        assert (await uow.fetch(BY_USER, {"buyer": "u"})).scalar() == "a"
