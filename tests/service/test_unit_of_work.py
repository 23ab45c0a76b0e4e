"""What a unit of work writes at commit: events (the outbox) and the rows given to `insert`, on both backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError

from bazaar.bootstrap import Container
from bazaar.db.outbox import OutboxEvent
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
