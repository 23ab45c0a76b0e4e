"""What a unit of work writes at commit: events (the outbox) and the rows given to `insert`, on both backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

import asyncpg
import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from bazaar.accounts.models import User
from bazaar.bootstrap import Container
from bazaar.checkout.models import Checkout, CheckoutStep
from bazaar.db.outbox import OutboxEvent
from bazaar.kernel.clock import utcnow
from bazaar.kernel.events import Event
from bazaar.orders.models import OrderDirectory

DIRECTORY = cast(Table, OrderDirectory.__table__)


@dataclass(frozen=True)
class Noted(Event):
    topic: ClassVar[str] = "tests.noted.v1"
    id: str


def entry(name: str) -> dict[str, str]:
    return {"id": name, "user_id": "u", "order_id": name}


async def written(container: Container) -> tuple[list[str], list[str]]:
    async with container.read_uow() as uow:
        events = (await uow.session.execute(select(OutboxEvent.key).where(OutboxEvent.topic == Noted.topic))).all()
        rows = (await uow.session.execute(select(OrderDirectory.id))).all()
    return sorted(k for (k,) in events), sorted(i for (i,) in rows)


async def test_events_and_rows_are_written_by_the_commit_and_a_rollback_drops_them(container: Container) -> None:
    async with container.uow() as uow:
        uow.emit(Noted("dropped"))
        uow.insert(DIRECTORY, entry("dropped"))
        await uow.rollback()
        uow.emit(Noted("kept"))
        uow.insert(DIRECTORY, entry("kept"))
        uow.insert(DIRECTORY, entry("kept-too"))
        await uow.commit()
    assert await written(container) == (["kept"], ["kept", "kept-too"])


async def test_a_savepoint_that_fails_drops_what_it_recorded_and_a_bad_row_fails_only_its_savepoint(
    container: Container,
) -> None:
    async with container.uow() as uow:
        uow.emit(Noted("before"))
        uow.insert(DIRECTORY, entry("before"))
        with pytest.raises(RuntimeError):
            async with uow.savepoint():
                uow.emit(Noted("raised"))
                uow.insert(DIRECTORY, entry("raised"))
                raise RuntimeError("the block failed")
        with pytest.raises(IntegrityError):  # the row is written inside its savepoint, so it fails there
            async with uow.savepoint():
                uow.emit(Noted("duplicate"))
                uow.insert(DIRECTORY, entry("before"))  # the same id as a row of this transaction
                uow.insert(DIRECTORY, entry("before"))
        async with uow.savepoint():
            uow.emit(Noted("inside"))
            uow.insert(DIRECTORY, entry("inside"))
        await uow.commit()
    assert await written(container) == (["before", "inside"], ["before", "inside"])
    async with container.read_uow() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(OutboxEvent))).scalar_one() == 2


USERS, CHECKOUTS, STEPS = (cast(Table, m.__table__) for m in (User, Checkout, CheckoutStep))


def a_checkout(checkout_id: str, user_id: str) -> dict[str, object]:
    now = utcnow()
    return {
        "id": checkout_id, "user_id": user_id, "idempotency_key": checkout_id, "request_hash": "h",
        "status": "started", "shipping_address": {"country": "DE"}, "deadline_at": now, "created_at": now,
        "updated_at": now,
    }  # fmt: skip


async def test_rows_of_several_tables_go_in_one_statement_and_one_failing_row_fails_them_all(
    container: Container, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit's rows of several tables and its events: one statement on PostgreSQL (a round trip each before), rows
    that reference others written by the same commit, and one failing row fails all of them."""
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def counted(self: asyncpg.Connection, query: str, *args: object, **options: object) -> str:
        if args:  # a statement with parameters: BEGIN and COMMIT have none
            sent.append(query)
        return await execute(self, query, *args, **options)

    monkeypatch.setattr(asyncpg.Connection, "execute", counted)
    now = utcnow()
    async with container.uow() as uow:
        await uow.session.execute(select(func.count()).select_from(USERS))  # as a unit of work reads before it writes
        # The steps reference the checkout, which references the user: all written by this commit.
        uow.insert(USERS, {"id": "u1", "email": "u1@example.com", "name": "U", "password_hash": "x"})
        uow.insert(CHECKOUTS, a_checkout("c1", "u1"))
        uow.insert(STEPS, {"id": "s1", "checkout_id": "c1", "status": "started", "detail": {"n": 1}, "at": now})
        uow.insert(STEPS, {"id": "s2", "checkout_id": "c1", "status": "priced", "detail": {}, "at": now})
        uow.insert(DIRECTORY, entry("kept"))
        uow.emit(Noted("kept"))
        await uow.commit()
    assert await written(container) == (["kept"], ["kept"])
    async with container.read_uow() as uow:
        steps = (await uow.session.execute(select(STEPS.c.id, STEPS.c.detail).order_by(STEPS.c.id))).all()
    assert [tuple(s) for s in steps] == [("s1", {"n": 1}), ("s2", {})]
    if backend == "postgres":
        assert len(sent) == 1 and sent[0].startswith("WITH "), sent

    with pytest.raises(IntegrityError):  # a step of a checkout nobody wrote: nothing of this commit is kept
        async with container.uow() as uow:
            uow.insert(DIRECTORY, entry("dropped"))
            uow.insert(STEPS, {"id": "s3", "checkout_id": "nowhere", "status": "x", "detail": {}, "at": now})
            uow.emit(Noted("dropped"))
            await uow.commit()
    assert await written(container) == (["kept"], ["kept"])


async def test_a_value_too_long_for_its_column_is_refused_whatever_else_the_commit_writes(
    container: Container, backend: str
) -> None:
    """Rows of several tables go in one statement on PostgreSQL; a value longer than its column is still refused
    (not cut to fit), and nothing of the commit is kept."""
    if backend != "postgres":
        pytest.skip("SQLite does not hold a VARCHAR to its length")
    with pytest.raises(DBAPIError):
        async with container.uow() as uow:
            await uow.session.execute(select(func.count()).select_from(DIRECTORY))
            uow.insert(DIRECTORY, {"id": "y" * 40, "user_id": "u", "order_id": "o"})  # id is 32 characters at most
            uow.emit(Noted("too-long"))
            await uow.commit()
    assert await written(container) == ([], [])


async def checkouts_as_stored(container: Container) -> dict[str, tuple[object, ...]]:
    async with container.read_uow() as uow:
        rows = (
            await uow.session.execute(
                select(CHECKOUTS.c.id, CHECKOUTS.c.status, CHECKOUTS.c.lines, CHECKOUTS.c.total_amount)
            )
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


async def test_changes_are_written_by_the_commit_with_its_rows_and_a_rollback_drops_them(
    container: Container, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`update`: rows changed by primary key with the commit (on PostgreSQL in the one statement with its inserts and
    events), the last of two changes of a row winning, `updated_at` taking the time of the change, a change of a row
    inserted by the same commit going into its insert, and nothing of it kept by a rollback or a failed savepoint."""
    async with container.uow() as uow:
        uow.insert(USERS, {"id": "u1", "email": "u1@example.com", "name": "U", "password_hash": "x"})
        uow.insert(CHECKOUTS, a_checkout("c1", "u1"))
        uow.insert(CHECKOUTS, a_checkout("c2", "u1"))
        await uow.commit()
    async with container.read_uow() as uow:
        before = (await uow.session.execute(select(CHECKOUTS.c.updated_at).where(CHECKOUTS.c.id == "c1"))).scalar()

    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def counted(self: asyncpg.Connection, query: str, *args: object, **options: object) -> str:
        if args:
            sent.append(query)
        return await execute(self, query, *args, **options)

    monkeypatch.setattr(asyncpg.Connection, "execute", counted)
    now = utcnow()
    async with container.uow() as uow:
        await uow.session.execute(select(func.count()).select_from(CHECKOUTS))  # begins the transaction
        uow.update(CHECKOUTS, {"id": "c1", "status": "priced", "lines": [{"offer_id": "o1"}]})
        uow.update(CHECKOUTS, {"id": "c1", "total_amount": 1234})
        uow.update(CHECKOUTS, {"id": "c1", "status": "completed"})  # the last change of a column wins
        uow.update(CHECKOUTS, {"id": "c2", "status": "failed"})  # another set of columns: a part of its own
        uow.insert(CHECKOUTS, a_checkout("c3", "u1"))
        uow.update(CHECKOUTS, {"id": "c3", "status": "priced", "total_amount": 5})  # goes into c3's insert
        uow.insert(STEPS, {"id": "s1", "checkout_id": "c1", "status": "completed", "detail": {}, "at": now})
        uow.emit(Noted("changed"))
        await uow.commit()
    if backend == "postgres":
        assert len(sent) == 1 and sent[0].startswith("WITH ") and sent[0].count("UPDATE checkouts SET") == 2, sent
    assert await checkouts_as_stored(container) == {
        "c1": ("completed", [{"offer_id": "o1"}], 1234),
        "c2": ("failed", [], 0),
        "c3": ("priced", [], 5),
    }
    async with container.read_uow() as uow:
        after = (await uow.session.execute(select(CHECKOUTS.c.updated_at).where(CHECKOUTS.c.id == "c1"))).scalar()
    assert after > before

    async with container.uow() as uow:
        uow.update(CHECKOUTS, {"id": "c2", "status": "dropped-by-rollback"})
        await uow.rollback()
        await uow.session.execute(select(func.count()).select_from(CHECKOUTS))
        with pytest.raises(RuntimeError):
            async with uow.savepoint():
                uow.update(CHECKOUTS, {"id": "c2", "status": "dropped-with-its-block"})
                raise RuntimeError("the block failed")
        uow.update(CHECKOUTS, {"id": "c1", "total_amount": 98})
        uow.insert(CHECKOUTS, a_checkout("c4", "u1"))
        async with uow.savepoint():  # its changes wait for the commit, after those recorded before the block
            uow.update(CHECKOUTS, {"id": "c1", "total_amount": 99})
            uow.update(CHECKOUTS, {"id": "c4", "status": "priced"})  # a row the commit is yet to insert
        await uow.commit()
    stored = await checkouts_as_stored(container)
    assert stored["c2"] == ("failed", [], 0) and stored["c1"][2] == 99 and stored["c4"][0] == "priced"
    with pytest.raises(ValueError):
        uow.update(CHECKOUTS, {"id": "c1"})  # nothing to change


async def test_a_change_alone_before_anything_began_the_transaction(container: Container) -> None:
    """A commit whose only write is a change, with nothing run before it: the change begins the transaction."""
    async with container.uow() as uow:
        uow.insert(USERS, {"id": "u2", "email": "u2@example.com", "name": "U", "password_hash": "x"})
        uow.insert(CHECKOUTS, a_checkout("c9", "u2"))
        await uow.commit()
    async with container.uow() as uow:
        uow.update(CHECKOUTS, {"id": "c9", "status": "failed"})
        await uow.commit()
    assert (await checkouts_as_stored(container))["c9"][0] == "failed"
