"""A deadlock PostgreSQL breaks up is run again by UnitOfWork.run, never answered as a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bazaar.bootstrap import Container
from bazaar.db import uow as uow_module
from bazaar.db.uow import is_transient_conflict
from bazaar.kernel.errors import DatabaseBusy
from bazaar.web.errors import dependency_down
from tests.inventory_factories import levels, make_offer

_ADD = text("UPDATE stock_buckets SET on_hand = on_hand + 1, available = available + 1 WHERE offer_id = :o")


async def test_a_real_deadlock_is_retried_and_both_transactions_finish(container: Container, pg_only: None) -> None:
    a, b = await make_offer(container, quantity=5), await make_offer(container, quantity=5)
    both_hold_one = asyncio.Barrier(2)
    attempts = {"ab": 0, "ba": 0}

    async def crosswise(name: str, first: str, second: str) -> None:
        async with container.uow() as uow:

            async def work() -> None:
                attempts[name] += 1
                await uow.session.execute(_ADD, {"o": first})
                if attempts[name] == 1:  # the first time, make sure each holds one row the other wants
                    await both_hold_one.wait()
                await uow.session.execute(_ADD, {"o": second})
                await uow.commit()

            await uow.run(work)

    retried = uow_module.conflicts_retried
    await asyncio.gather(crosswise("ab", a.id, b.id), crosswise("ba", b.id, a.id))
    assert uow_module.conflicts_retried == retried + 1  # PostgreSQL picked one victim; it ran again
    assert sorted(attempts.values()) == [1, 2]
    assert await levels(container, a.id) == (7, 7) and await levels(container, b.id) == (7, 7)


class _Deadlock(Exception):
    sqlstate = "40P01"


def _conflict() -> DBAPIError:
    return DBAPIError("UPDATE stock_buckets …", {}, _Deadlock("deadlock detected"))


async def test_conflicts_that_keep_coming_end_as_a_503_after_a_bounded_number_of_tries(container: Container) -> None:
    tries = 0

    async def always_broken_up() -> Any:
        nonlocal tries
        tries += 1
        raise _conflict()

    async with container.uow() as uow:
        with pytest.raises(DatabaseBusy) as refused:
            await uow.run(always_broken_up, attempts=3)
    assert tries == 3
    assert refused.value.code == "database_busy" and refused.value.retry_after == 1
    # One that escapes a retrying unit of work anywhere else is the same 503, not a 500.
    escaped = dependency_down(_conflict())
    assert isinstance(escaped, DatabaseBusy)
    assert is_transient_conflict(_conflict()) and not is_transient_conflict(DBAPIError("x", {}, ValueError("no")))


async def test_a_serial_consumers_batches_never_deadlock_on_shared_rows(container: Container, pg_only: None) -> None:
    from bazaar.db.consumers import Subscription, deliver_many
    from bazaar.kernel.ids import new_id

    a, b = await make_offer(container, quantity=5), await make_offer(container, quantity=5)

    async def bump(uow: Any, event: dict[str, Any]) -> None:  # like a per-seller counter, in event order
        await uow.session.execute(_ADD, {"o": event["key"]})
        await asyncio.sleep(0.3)  # the other partition's batch takes its first row meanwhile

    subscription = Subscription("test-counters", ("test.",), bump, serial=True)

    def batch(*keys: str) -> list[dict[str, Any]]:
        return [{"event_id": new_id(), "topic": "test.bumped", "key": k, "payload": {}} for k in keys]

    async with container.db.engine.connect() as conn:
        before = (
            await conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
        ).scalar_one()
    results = await asyncio.gather(
        deliver_many(container.uow, subscription, batch(a.id, b.id), stop_at_failure=False),
        deliver_many(container.uow, subscription, batch(b.id, a.id), stop_at_failure=False),
    )
    assert all(outcome is None for r in results for outcome in r.values()), results
    assert await levels(container, a.id) == (7, 7) and await levels(container, b.id) == (7, 7)
    async with container.db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
        after = (
            await conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
        ).scalar_one()
    assert after == before
